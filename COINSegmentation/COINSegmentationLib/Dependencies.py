"""Install what COIN needs inside Slicer, on first use and only after asking.

* torch comes from the PyTorch extension (``PyTorchUtils``), which picks the CUDA or CPU wheel that
  matches the driver; a version below ``MINIMUM_TORCH`` is reported with what to do.
* The other packages (Resources/requirements.txt) go through ``slicer.packaging.pip_ensure`` on
  Slicer >= 5.12, which asks and shows progress, or ``slicer.util.pip_install`` after ``confirm``
  on older Slicer. Slicer's own numpy, SimpleITK, vtk and requests are never replaced: they are
  skipped, and pinned to their installed versions in a constraints file for pip.

Nothing here runs at import time. Only the widget calls these functions (it passes the dialog).
"""

from __future__ import annotations

import importlib.metadata
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

MINIMUM_TORCH = "2.1"
PROTECTED_PACKAGES = ("numpy", "SimpleITK", "vtk", "requests", "torch")


def requirementsFile() -> Path:
    return Path(__file__).resolve().parent.parent / "Resources" / "requirements.txt"


def readRequirements(path: Path | None = None) -> list[str]:
    """The requirement lines of ``path`` (comments and blanks dropped)."""
    lines = (path or requirementsFile()).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _versionTuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def missingRequirements(requirements: list[str]) -> list[str]:
    """The requirements that are not installed or are older than their ``>=`` bound."""
    missing = []
    for requirement in requirements:
        name, _, minimum = requirement.partition(">=")
        try:
            installed = importlib.metadata.version(name.strip())
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if minimum and _versionTuple(installed) < _versionTuple(minimum):
            missing.append(requirement)
    return missing


def ensureTorch(askConfirmation: bool = True):
    """Return the torch module, installing it through the PyTorch extension if needed.

    Raises:
        RuntimeError: the PyTorch extension is missing, the user declined, or torch is too old.
    """
    try:
        import PyTorchUtils
    except ImportError as err:
        raise RuntimeError(
            "COIN needs the 'PyTorch' extension: install it from the Extensions Manager, restart Slicer "
            "and try again."
        ) from err
    torchLogic = PyTorchUtils.PyTorchUtilsLogic()
    if not torchLogic.torchInstalled():
        torch = torchLogic.installTorch(
            askConfirmation=askConfirmation, torchVersionRequirement=f">={MINIMUM_TORCH}"
        )
        if torch is None:
            raise RuntimeError("PyTorch was not installed; COIN cannot run without it.")
    import torch

    if _versionTuple(torch.__version__) < _versionTuple(MINIMUM_TORCH):
        raise RuntimeError(
            f"COIN needs PyTorch >= {MINIMUM_TORCH}, Slicer has {torch.__version__}. Open the PyTorch Utils "
            "module, uninstall torch, restart Slicer and run COIN again."
        )
    return torch


def ensurePythonPackages(confirm: Callable[[str], bool]) -> bool:
    """Install the missing packages after asking; returns False when the user declined."""
    import slicer

    requirements = [
        r
        for r in readRequirements()
        if not r.lower().startswith(tuple(p.lower() for p in PROTECTED_PACKAGES))
    ]
    packaging = getattr(slicer, "packaging", None)
    if packaging is not None and hasattr(packaging, "pip_ensure"):  # Slicer >= 5.12
        packaging.pip_ensure(
            packaging.load_requirements(str(requirementsFile())),
            requester="COIN",
            skip_packages=list(PROTECTED_PACKAGES),
        )
        return True
    missing = missingRequirements(requirements)
    if not missing:
        return True
    message = (
        "COIN needs these Python packages, which are not installed yet:\n  "
        + "\n  ".join(missing)
        + "\nInstall them now? (Slicer's own numpy, SimpleITK and vtk are kept as they are.)"
    )
    if not confirm(message):
        return False
    slicer.util.pip_install([*missing, "-c", str(constraintsFile())])
    return True


def constraintsFile() -> Path:
    """A pip constraints file pinning Slicer's own packages to the versions it ships."""
    pins = []
    for name in PROTECTED_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    path = Path(tempfile.gettempdir()) / "coin-slicer-constraints.txt"
    path.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return path
