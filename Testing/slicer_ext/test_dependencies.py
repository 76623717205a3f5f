"""Dependencies: what would be installed inside Slicer, and what is protected (no install here)."""

from __future__ import annotations

import importlib.metadata

from COINSegmentationLib.Dependencies import (
    PROTECTED_PACKAGES,
    constraintsFile,
    missingRequirements,
    readRequirements,
)


def test_the_requirements_never_name_slicers_own_packages():
    names = {r.split(">=")[0].strip().lower() for r in readRequirements()}
    assert names and not names & {p.lower() for p in PROTECTED_PACKAGES}


def test_missing_requirements_are_the_absent_or_too_old_ones():
    numpy = importlib.metadata.version("numpy")
    assert missingRequirements(["numpy>=1.0", "numpy>=999", "no-such-package-coin>=1"]) == [
        "numpy>=999",
        "no-such-package-coin>=1",
    ]
    assert missingRequirements([f"numpy>={numpy}"]) == []


def test_the_constraints_file_pins_installed_protected_packages():
    text = constraintsFile().read_text()
    assert f"numpy=={importlib.metadata.version('numpy')}" in text.splitlines()
    assert f"SimpleITK=={importlib.metadata.version('SimpleITK')}" in text.splitlines()
