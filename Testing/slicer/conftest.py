"""Fixtures for the Slicer-extension tests (run on slicer-core, no Qt; docs/SLICER.md §7)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the two module folders are what Slicer puts on sys.path ("additional module paths")
for folder in ("COINSegmentation", "COINTraining", ""):
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)

HERE = Path(__file__).resolve().parent


@pytest.fixture
def protocol_child() -> list[str]:
    """Command prefix of the real child process that speaks the worker protocol."""
    return [sys.executable, str(HERE / "protocol_child.py")]
