"""Where COIN models live and which ones the panel lists.

A model is a folder with ``model.json`` and the ``*.safetensors`` weights (docs/internals.md,
"Model folders"). The panel lists, in this order: the demo model shipped with the extension, every
model folder inside the user's models folder (where COINTraining registers new models), and any
extra folders the user added with "Add model folder...".
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .locations import coinCoreSearchPath

MODELS_DIR_ENV = "COIN_MODELS_DIR"


@dataclass(frozen=True)
class ModelEntry:
    """One listed model: a display name, its folder and a line about it from its card."""

    name: str
    folder: str
    description: str = ""


def isModelFolder(folder: str | Path) -> bool:
    """True when ``folder`` holds a ``model.json`` model card."""
    return (Path(folder).expanduser() / "model.json").is_file()


def defaultModelsFolder() -> Path:
    """``$COIN_MODELS_DIR`` when set, else ``~/.coin/models`` (created on demand by the callers)."""
    return Path(os.environ.get(MODELS_DIR_ENV, Path.home() / ".coin" / "models")).expanduser()


def bundledDemoModel() -> Path | None:
    """The demo model shipped with the extension (next to coin_core), if present."""
    try:
        folder = Path(coinCoreSearchPath()) / "Resources" / "DemoModel"
    except RuntimeError:
        return None
    return folder if isModelFolder(folder) else None


def modelDescription(folder: str | Path) -> str:
    """One line about the model, from its card (``coin_core.modelfile.read_card``).

    A folder whose card cannot be read is still listed, with the reason as its description (running
    it then fails with the same message).
    """
    from coin_core.errors import CoinError
    from coin_core.modelfile import read_card

    try:
        card = read_card(Path(folder).expanduser())
    except CoinError as err:
        return f"Not usable: {err}"
    data = card.training_data
    parts = [f"{card.method.upper()}, {card.input_size} px input, threshold {card.threshold:g}"]
    if data.get("host"):
        parts.append(f"host {data['host']}")
    if data.get("train_slices"):
        parts.append(f"{data['train_slices']} training slices")
    if data.get("single_patient"):
        parts.append("single-patient training data")
    return "; ".join(parts)


def _entry(folder: Path, prefix: str = "") -> ModelEntry:
    return ModelEntry(f"{prefix}{folder.name}", str(folder), modelDescription(folder))


def listModels(
    modelsFolder: str | Path | None = None, extraFolders: list[str] | None = None
) -> list[ModelEntry]:
    """All models to offer: the demo model, the models folder's sub-folders, then ``extraFolders``."""
    entries: list[ModelEntry] = []
    seen: set[str] = set()

    def add(folder: Path, prefix: str = "") -> None:
        resolved = str(folder.resolve())
        if resolved not in seen and isModelFolder(folder):
            seen.add(resolved)
            entries.append(_entry(folder, prefix))

    demo = bundledDemoModel()
    if demo is not None:
        add(demo, "demo: ")
    root = Path(modelsFolder).expanduser() if modelsFolder else defaultModelsFolder()
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            add(folder)
    for extra in extraFolders or []:
        add(Path(extra).expanduser())
    return entries


def registerModel(
    modelFolder: str | Path, modelsFolder: str | Path | None = None, name: str | None = None
) -> Path:
    """Copy a trained model folder into the models folder so COINSegmentation lists it.

    Raises:
        ValueError: ``modelFolder`` has no model.json, or the target name is taken.
    """
    source = Path(modelFolder).expanduser()
    if not isModelFolder(source):
        raise ValueError(f"'{source}' has no model.json; pick the model folder that training wrote.")
    root = Path(modelsFolder).expanduser() if modelsFolder else defaultModelsFolder()
    target = root / (name or source.name)
    if target.exists():
        raise ValueError(f"A model named '{target.name}' already exists in {root}; choose another name.")
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".{target.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    partial.rename(target)
    return target
