"""Where the installed ``coin_core`` package lives (the worker's PYTHONPATH, the bundled demo model).

Inside Slicer the extension copies ``coin_core``, ``coin_slicer`` and ``Resources/DemoModel`` into
one qt-scripted-modules folder; in a checkout they sit at the repository root; after ``pip install``
they are in site-packages (without the demo model). Nothing here changes ``sys.path``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def coinCoreSearchPath() -> str:
    """The folder that holds the ``coin_core`` package (found without importing it).

    Raises:
        RuntimeError: ``coin_core`` is not importable from this interpreter.
    """
    spec = importlib.util.find_spec("coin_core")
    if spec is None or not spec.submodule_search_locations:
        here = Path(__file__).resolve().parent
        raise RuntimeError(
            f"coin_core was not found next to {here}; reinstall the COIN extension (it ships coin_core)."
        )
    return str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)
