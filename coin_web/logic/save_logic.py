"""Save: the edited lesion as ``NAME_lesion.seg.nrrd`` and the counterfactual as
``NAME_counterfactual.nii.gz``, next to the input CT (so inside the data root). For a CT opened from a
DICOM series folder, "Save as DICOM SEG" writes ``NAME_lesion_seg.dcm`` next to the folder: a DICOM
Segmentation referencing the series (``coin_slicer.lesion_results``; SEMIAUTOMATIC after an edit).

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


def dicom_seg_path(source: Path) -> Path:
    """Where "Save as DICOM SEG" writes for the DICOM series folder ``source``."""
    return source.parent / f"{source.name}_lesion_seg.dcm"


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
        lesion_results=None,
    ) -> None:
        super().__init__(server, slicer_app, SaveState)
        self.session, self.data_root, self.messages = session, data_root, messages
        self.lesion_results = lesion_results
        self._pending = self._write  # what "Replace" in the overwrite dialog writes
        session.volume_changed.connect(self._on_volume_changed)

    def _on_volume_changed(self, _node) -> None:  # noqa: ANN001
        source = self.session.source_path
        with self.state:
            self.data.dicom_available = bool(source is not None and source.is_dir())
            self.data.saved = []

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.save_clicked.connect(self.save)
        ui.save_dicom_seg_clicked.connect(self.save_dicom_seg)
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
            self._ask(existing, self._write)
            return []
        return self._write()

    def save_dicom_seg(self) -> list[Path]:
        """Write the lesion as a DICOM SEG next to the CT's DICOM folder (asks before replacing)."""
        source = self.session.source_path
        if self.session.outputs is None or self.lesion_results is None:
            self.messages.error("Nothing to save yet: generate a counterfactual first.")
            return []
        if source is None or not source.is_dir():
            self.messages.error(
                "Save as DICOM SEG needs a CT opened from a DICOM series folder; save the .seg.nrrd instead."
            )
            return []
        try:
            target = dicom_seg_path(source)
            self.data_root.relative(target)
        except Exception as err:  # outside the data root: refuse with the reason
            self.messages.error(f"Cannot save: {err}")
            return []
        if target.exists():
            self._ask([target], self._write_dicom_seg)
            return []
        return self._write_dicom_seg()

    def _ask(self, existing: list[Path], writer) -> None:  # noqa: ANN001
        self._pending = writer
        with self.state:
            self.data.existing = [self.data_root.relative(p) for p in existing]
            self.data.ask_overwrite = True

    def overwrite(self) -> list[Path]:
        """The user agreed to replace the listed files."""
        with self.state:
            self.data.ask_overwrite = False
        writer, self._pending = self._pending, self._write
        return writer()

    def _write_dicom_seg(self) -> list[Path]:
        source = self.session.source_path
        try:
            path = self.lesion_results.saveDicomSeg(
                self.session.segmentation_node, dicom_seg_path(source), source
            )
        except Exception as err:  # a CoinError says what is wrong and what to do; nothing was written
            self.messages.error(f"DICOM SEG not saved: {err}")
            return []
        saved = [self.data_root.relative(path)]
        with self.state:
            self.data.saved = saved
        self.messages.show("Saved " + saved[0], "success")
        return [path]

    def cancel_overwrite(self) -> None:
        """The user kept the existing files; nothing is written."""
        self._pending = self._write
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
