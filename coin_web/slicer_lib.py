"""Make COINSegmentation's logic package importable for the web page.

Slicer puts each module folder on ``sys.path``; outside Slicer we do the same: the folder
``COINSegmentation`` next to this package (a checkout) or ``$COIN_SLICER_MODULE_DIR`` holds
``COINSegmentationLib``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from coin_core.errors import CoinError

ENV_VAR = "COIN_SLICER_MODULE_DIR"


def slicer_module_dir() -> Path:
    """The folder that holds ``COINSegmentationLib``.

    Raises:
        CoinError: neither ``$COIN_SLICER_MODULE_DIR`` nor the checkout has it.
    """
    candidates = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    candidates.append(Path(__file__).resolve().parent.parent / "COINSegmentation")
    for folder in candidates:
        if (folder / "COINSegmentationLib" / "__init__.py").is_file():
            return folder
    raise CoinError(
        f"COINSegmentationLib was not found in {', '.join(str(c) for c in candidates)}",
        f"run 'coin web' from a checkout of the repository or set {ENV_VAR} to the COINSegmentation folder",
    )


def ensure_slicer_lib_importable() -> None:
    """Put the COINSegmentation folder on ``sys.path`` unless ``COINSegmentationLib`` imports already."""
    if importlib.util.find_spec("COINSegmentationLib") is None:
        sys.path.insert(0, str(slicer_module_dir()))
