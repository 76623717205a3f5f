"""The reviewed lesion as numbers and as a hospital file: a lesion table node and a DICOM SEG.

``LesionResults(scene, logic)`` keeps, for a COIN segmentation node, a ``vtkMRMLTableNode``
"<input> COIN lesions" with one row per connected lesion (``coin_core.infer.lesion_table``: volume,
longest axial diameter, HU, slice range, centre in RAS and LPS). ``watch(segmentationNode)`` refreshes it
whenever the segment changes: after a run, after the threshold slider re-segments, and after every edit
in the segment editor (an edit also marks the segment as edited by hand: a DICOM SEG says SEMIAUTOMATIC).
``saveDicomSeg(segmentationNode, path, sourceFolder)`` writes the lesion segment as a DICOM SEG that
references the input's DICOM series (``coin_core.io.dicom_seg``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .node_io import segmentArray, volumeFromNode
from .segmentation_logic import ATTR_EDITED, ATTR_MODEL, ATTR_SEGMENT_ID, ATTR_UPDATING, REF_INPUT
from .signals import Signal

REF_LESION_TABLE = "COIN.lesionTable"
TABLE_SUFFIX = "COIN lesions"
# the table's columns: (header, LesionMeasurement field, number format)
TABLE_COLUMNS = (
    ("Lesion", "lesion", "{:d}"),
    ("Volume (mL)", "volume_ml", "{:.3f}"),
    ("Longest axial diameter (mm)", "longest_axial_diameter_mm", "{:.1f}"),
    ("Mean HU", "mean_hu", "{:.1f}"),
    ("Max HU", "max_hu", "{:.0f}"),
    ("First slice", "slice_first", "{:d}"),
    ("Last slice", "slice_last", "{:d}"),
    ("Centre R (mm)", "center_ras_x_mm", "{:.1f}"),
    ("Centre A (mm)", "center_ras_y_mm", "{:.1f}"),
    ("Centre S (mm)", "center_ras_z_mm", "{:.1f}"),
    ("Voxels", "voxels", "{:d}"),
)


class LesionResults:
    """Lesion table and DICOM SEG for COIN segmentation nodes (no Qt; runs on slicer-core)."""

    def __init__(self, scene, logic=None, defer=None) -> None:
        """Args:
        scene: the MRML scene.
        logic: a SegmentationLogic whose runs and re-thresholds the table follows (``watch``).
        defer: ``defer(callback)`` runs ``callback`` a little later (a Qt single-shot timer, an event
            loop's ``call_later``): edits fire several events per stroke, the table is measured once
            for all of them. None: measured at once, on every event.
        """
        self.scene = scene
        self.defer = defer
        self._pending: set[str] = set()
        self.tableUpdated = Signal("segmentation", "lesions")  # after every refresh (the web page's table)
        self._observers: dict[str, tuple] = {}
        if logic is not None:
            logic.segmentUpdated.connect(self.watch)

    def lesionMask(self, segmentationNode):
        """(mask Volume, input Volume) of the lesion segment on the input's grid."""
        inputVolume = segmentationNode.GetNodeReference(REF_INPUT)
        segmentId = segmentationNode.GetAttribute(ATTR_SEGMENT_ID)
        if inputVolume is None or not segmentId:
            raise ValueError("This segmentation was not made by COIN; run 'Generate counterfactual' first.")
        image = volumeFromNode(inputVolume)
        return image.with_array(segmentArray(segmentationNode, segmentId, inputVolume)), image

    def measure(self, segmentationNode) -> list:
        """The ``LesionMeasurement`` rows of the segmentation's lesion segment."""
        from coin_core.infer.lesion_table import measure_lesions

        mask, image = self.lesionMask(segmentationNode)
        return measure_lesions(mask, image)

    def updateTable(self, segmentationNode):
        """Create or refresh the lesion table node of ``segmentationNode``; returns the table node."""
        lesions = self.measure(segmentationNode)
        table = segmentationNode.GetNodeReference(REF_LESION_TABLE)
        if table is None:
            inputVolume = segmentationNode.GetNodeReference(REF_INPUT)
            table = self.scene.AddNewNodeByClass(
                "vtkMRMLTableNode", f"{inputVolume.GetName()} {TABLE_SUFFIX}"
            )
            segmentationNode.SetNodeReferenceID(REF_LESION_TABLE, table.GetID())
        import vtk

        data = vtk.vtkTable()
        for header, fieldName, fmt in TABLE_COLUMNS:
            column = vtk.vtkStringArray()
            column.SetName(header)
            for lesion in lesions:
                value = getattr(lesion, fieldName)
                column.InsertNextValue(
                    "" if isinstance(value, float) and np.isnan(value) else fmt.format(value)
                )
            data.AddColumn(column)
        table.SetAndObserveTable(data)
        table.SetUseColumnTitleAsColumnHeader(True)
        self.tableUpdated.emit(segmentationNode, lesions)
        return table

    def watch(self, segmentationNode) -> None:
        """Refresh the table now and whenever the lesion segment is edited (which marks it as edited)."""
        import slicer

        key = segmentationNode.GetID()
        if key in self._observers:
            self._schedule(segmentationNode)
            return
        # the node forwards its segmentation's events and keeps them when the segment editor's undo
        # swaps the segmentation object, so observe the node
        events = [
            slicer.vtkSegmentation.SourceRepresentationModified,
            slicer.vtkSegmentation.SegmentModified,
            slicer.vtkSegmentation.SegmentAdded,
            slicer.vtkSegmentation.SegmentRemoved,
            slicer.vtkMRMLSegmentationNode.SegmentationChangedEvent,
        ]
        segmentation = segmentationNode
        tags = [
            segmentation.AddObserver(event, lambda caller, event: self._onEdited(segmentationNode))
            for event in events
        ]
        self._observers[key] = (segmentation, tags)
        self.updateTable(segmentationNode)

    def unwatch(self, segmentationNode) -> None:
        entry = self._observers.pop(segmentationNode.GetID(), None)
        if entry is not None:
            for tag in entry[1]:
                entry[0].RemoveObserver(tag)

    def _onEdited(self, segmentationNode) -> None:
        if segmentationNode.GetAttribute(ATTR_UPDATING) == "1":
            return  # COIN's own write (a run or the threshold); the logic emits segmentUpdated after it
        segmentationNode.SetAttribute(ATTR_EDITED, "1")
        self._schedule(segmentationNode)

    def _schedule(self, segmentationNode) -> None:
        """Refresh the table now, or once shortly (``defer``) for a burst of changes."""
        if self.defer is None:
            self.updateTable(segmentationNode)
            return
        key = segmentationNode.GetID()
        if key not in self._pending:
            self._pending.add(key)
            self.defer(lambda: self._flush(segmentationNode))

    def _flush(self, segmentationNode) -> None:
        self._pending.discard(segmentationNode.GetID())
        if segmentationNode.GetScene() is self.scene:  # not removed meanwhile
            self.updateTable(segmentationNode)

    def saveDicomSeg(
        self, segmentationNode, path: str | Path, sourceFolder: str | Path, modelFolder=None
    ) -> Path:
        """Write the lesion segment as a DICOM SEG referencing the DICOM series in ``sourceFolder``.

        Raises ``coin_core.errors.CoinError`` (not a DICOM series, another grid, empty segment); the file
        is written atomically, so nothing is left at ``path`` after an error.
        """
        from coin_core.fileutil import atomic_path
        from coin_core.infer.coding import SegmentCoding, coding_for_model
        from coin_core.io.dicom_seg import write_dicom_seg
        from coin_core.modelfile import read_card

        modelFolder = modelFolder or segmentationNode.GetAttribute(ATTR_MODEL)
        edited = segmentationNode.GetAttribute(ATTR_EDITED) == "1"
        coding = SegmentCoding(edited=edited)
        if modelFolder and Path(modelFolder).expanduser().is_dir():
            coding = coding_for_model(read_card(Path(modelFolder).expanduser()), modelFolder, edited=edited)
        mask, _ = self.lesionMask(segmentationNode)
        path = Path(path)
        with atomic_path(path) as tmp:
            write_dicom_seg(mask, sourceFolder, tmp, coding)
        return path


def dicomSourceFolder(volumeNode) -> str | None:
    """The folder of the DICOM series a volume was loaded from, when Slicer knows it.

    Desktop Slicer's DICOM module stores the instance UIDs on the node (``DICOM.instanceUIDs``) and the
    files in its database; a volume loaded from a file of a series has that file in its storage node.
    """
    if volumeNode is None:
        return None
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
    try:
        import slicer

        database = getattr(slicer, "dicomDatabase", None)
        if uids and database is not None:
            first = database.fileForInstance(uids[0])
            if first:
                return str(Path(first).parent)
    except ImportError:
        pass
    storage = volumeNode.GetStorageNode()
    name = storage.GetFileName() if storage is not None else ""
    if name:
        from coin_core.io.dicom import is_dicom_file

        if Path(name).is_dir():
            return name
        if is_dicom_file(name):
            return str(Path(name).parent)
    return None
