"""Save: the edited lesion as ``NAME_lesion.seg.nrrd`` and the counterfactual as
``NAME_counterfactual.nii.gz``, next to the input CT (so inside the data root).

Existing files are never replaced silently: the page asks first and lists them. Each file is
written under a temporary name in the same folder and renamed, so a failed write leaves no half file.
"""

from __future__ import annotations

import os
from pathlib import Path

from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from coin_slicer.node_io import writeVolumeFile

from ..data_root import DataRoot
from ..session import Session
from ..state import SaveState
from .message_logic import MessageLogic


def output_paths(source: Path) -> dict[str, Path]:
    """Where Save writes for the input ``source`` (a file or a DICOM folder), keyed by role."""
    name = source.name.split(".")[0] if source.is_file() else source.name
    return {
        "segmentation": source.parent / f"{name}_lesion.seg.nrrd",
        "counterfactual": source.parent / f"{name}_counterfactual.nii.gz",
    }


def _partial(path: Path) -> Path:
    # keep the full suffix (".seg.nrrd", ".nii.gz"): the storage nodes pick the writer from it
    return path.with_name(f".partial-{path.name}")


def write_segmentation(segmentation_node, path: Path) -> None:
    """Write ``segmentation_node`` to ``path`` (.seg.nrrd) atomically."""
    import slicer

    storage = slicer.vtkMRMLSegmentationStorageNode()
    tmp = _partial(path)
    storage.SetFileName(str(tmp))
    if not storage.WriteData(segmentation_node):
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"could not write {path.name}; is the folder writable and the disk not full?")
    os.replace(tmp, path)


def write_volume_node(volume_node, path: Path) -> None:
    """Write ``volume_node`` to ``path`` (format from the suffix) atomically."""
    tmp = _partial(path)
    try:
        writeVolumeFile(volume_node, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SaveLogic(BaseLogic[SaveState]):
    """Saves the current result; asks before replacing files."""

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        session: Session,
        data_root: DataRoot,
        messages: MessageLogic,
    ) -> None:
        super().__init__(server, slicer_app, SaveState)
        self.session, self.data_root, self.messages = session, data_root, messages

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.save_clicked.connect(self.save)
        ui.overwrite_confirmed.connect(self.overwrite)
        ui.overwrite_cancelled.connect(self.cancel_overwrite)

    def targets(self) -> dict[str, Path]:
        """The output paths for the current CT, checked to be inside the data root."""
        paths = output_paths(self.session.source_path)
        for path in paths.values():
            self.data_root.relative(path)
        return paths

    def save(self) -> list[Path]:
        """Write the outputs, or open the overwrite question when some exist. Returns written paths."""
        if self.session.outputs is None:
            self.messages.error("Nothing to save yet: generate a counterfactual first.")
            return []
        try:
            existing = [p for p in self.targets().values() if p.exists()]
        except Exception as err:  # outside the data root: refuse with the reason
            self.messages.error(f"Cannot save: {err}")
            return []
        if existing:
            with self.state:
                self.data.existing = [self.data_root.relative(p) for p in existing]
                self.data.ask_overwrite = True
            return []
        return self._write()

    def overwrite(self) -> list[Path]:
        """The user agreed to replace the listed files."""
        with self.state:
            self.data.ask_overwrite = False
        return self._write()

    def cancel_overwrite(self) -> None:
        """The user kept the existing files; nothing is written."""
        with self.state:
            self.data.ask_overwrite = False
        self.messages.show("Not saved; the existing files were kept.")

    def _write(self) -> list[Path]:
        outputs = self.session.outputs
        try:
            paths = self.targets()
            write_segmentation(outputs.segmentation, paths["segmentation"])
            write_volume_node(outputs.counterfactual, paths["counterfactual"])
        except Exception as err:  # disk full, permissions: report, keep the session
            self.messages.error(f"Save failed: {err}")
            return []
        saved = [self.data_root.relative(p) for p in paths.values()]
        with self.state:
            self.data.saved = saved
        self.messages.show("Saved " + ", ".join(saved), "success")
        return list(paths.values())
