"""Build a training dataset (nnU-Net raw layout) from volumes and segmentations in the scene.

Layout written (the one ``coin data`` reads, docs/internals.md)::

    DATASET/imagesTr/caseNNN_0000.nii.gz   the CT, geometry kept
    DATASET/labelsTr/caseNNN.nii.gz        segment i -> label value i + 1 (when a segmentation is given)
    DATASET/dataset.json                   labels by segment name, "slicer_cases": case id -> node name
    DATASET/slice_labels.csv               image-level labels (case, slice, label), when a table is given;
                                           abnormal slices also go to dataset.json "exclude_slices"

The scene is left as it was: the temporary labelmap nodes used for exporting are removed again.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .node_io import arrayFromNode, checkSameGeometry, volumeFromNode
from .scene_helpers import removeNodesNotIn

SLICE_LABELS_FILE = "slice_labels.csv"


def segmentationToLabelArray(scene, segmentationNode, referenceVolume) -> tuple[np.ndarray, list[str]]:
    """All segments as one label array on ``referenceVolume``'s grid (segment i -> i + 1), and their names."""
    import slicer
    import vtk

    segmentation = segmentationNode.GetSegmentation()
    names, labels = [], None
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        for index in range(segmentation.GetNumberOfSegments()):
            segmentId = segmentation.GetNthSegmentID(index)
            ids = vtk.vtkStringArray()
            ids.InsertNextValue(segmentId)
            labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__coin_export__")
            logic = slicer.vtkSlicerSegmentationsModuleLogic
            if not logic.ExportSegmentsToLabelmapNode(segmentationNode, ids, labelmap, referenceVolume):
                raise RuntimeError(
                    f"Could not export segment '{segmentation.GetSegment(segmentId).GetName()}' of "
                    f"'{segmentationNode.GetName()}' onto '{referenceVolume.GetName()}'."
                )
            mask = arrayFromNode(labelmap) > 0
            labels = np.zeros(mask.shape, np.uint8) if labels is None else labels
            labels[mask] = index + 1
            names.append(segmentation.GetSegment(segmentId).GetName())
    finally:
        removeNodesNotIn(scene, before)
    if labels is None:
        raise ValueError(
            f"The segmentation '{segmentationNode.GetName()}' has no segments; add the lesion first."
        )
    return labels, names


def _labelVolume(scene, labelNode, volumeNode, image):
    if labelNode is None:
        return None, []
    if labelNode.IsA("vtkMRMLSegmentationNode"):
        array, names = segmentationToLabelArray(scene, labelNode, volumeNode)
    elif labelNode.IsA("vtkMRMLLabelMapVolumeNode"):
        checkSameGeometry(labelNode, volumeNode, f"label map '{labelNode.GetName()}'")
        array = arrayFromNode(labelNode).astype(np.int16)
        names = [f"label_{value}" for value in np.unique(array) if value > 0]
    else:
        raise ValueError(f"'{labelNode.GetName()}' is neither a segmentation nor a label map.")
    return image.with_array(array), names


def buildDatasetFromScene(scene, cases: list[tuple], outputFolder: str | Path, sliceLabelTable=None) -> Path:
    """Write ``cases`` ((volume node, segmentation / label map node or None) pairs) as a dataset.

    With ``sliceLabelTable`` (image-level labels), the table is saved as slice_labels.csv and the
    slices labelled abnormal go to dataset.json "exclude_slices", so ``coin data synth-lesions``
    never uses them as normal slices.

    Raises:
        ValueError: no cases, a non-empty output folder, or a table with unknown volumes or bad values.
    """
    from coin_core.data.nnunet import write_dataset_json, write_nnunet_case

    root = Path(outputFolder).expanduser()
    if not cases:
        raise ValueError("Add at least one volume to build a dataset from.")
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"The dataset folder {root} is not empty; choose a new folder.")
    caseIds = {f"case{index:03d}": volumeNode.GetName() for index, (volumeNode, _) in enumerate(cases)}
    rows = []
    if sliceLabelTable is not None:
        rows = sliceLabelRows(sliceLabelTable, {name: cid for cid, name in caseIds.items()})
    labelNames: list[str] = []
    for caseId, (volumeNode, labelNode) in zip(caseIds, cases, strict=True):
        image = volumeFromNode(volumeNode)
        label, names = _labelVolume(scene, labelNode, volumeNode, image)
        write_nnunet_case(root, caseId, image, label)
        labelNames = labelNames or names
    labels = {name: value + 1 for value, name in enumerate(labelNames)}
    extra: dict = {"slicer_cases": caseIds}
    if rows:
        abnormal: dict[str, list[int]] = {}
        for caseId, k, label in rows:
            if label == 1:
                abnormal.setdefault(caseId, []).append(k)
        extra["exclude_slices"] = {caseId: sorted(ks) for caseId, ks in abnormal.items()}
        writeSliceLabels(rows, root / SLICE_LABELS_FILE)
    write_dataset_json(root, labels, extra=extra)
    return root


def sliceLabelRows(tableNode, caseIdByVolumeName: dict[str, str]) -> list[tuple[str, int, int]]:
    """(case id, axial slice k, label) rows of a table node with columns case (volume name), slice, label."""
    table = tableNode.GetTable()
    name = tableNode.GetName()
    columns = {table.GetColumnName(c).strip().lower(): c for c in range(table.GetNumberOfColumns())}
    missing = [column for column in ("case", "slice", "label") if column not in columns]
    if missing:
        raise ValueError(f"The table '{name}' lacks the column(s) {missing}; it needs case, slice, label.")
    rows = []
    for row in range(table.GetNumberOfRows()):
        volumeName = str(table.GetValue(row, columns["case"]).ToString()).strip()
        if volumeName not in caseIdByVolumeName:
            raise ValueError(
                f"Row {row + 1} of '{name}' names the volume '{volumeName}', which is not in the dataset "
                f"({', '.join(caseIdByVolumeName)})."
            )
        try:
            k = int(float(table.GetValue(row, columns["slice"]).ToString()))
            label = int(float(table.GetValue(row, columns["label"]).ToString()))
        except ValueError:
            raise ValueError(f"Row {row + 1} of '{name}': slice and label must be numbers.") from None
        if label not in (0, 1):
            raise ValueError(
                f"Row {row + 1} of '{name}': label must be 0 (normal) or 1 (abnormal), got {label}."
            )
        rows.append((caseIdByVolumeName[volumeName], k, label))
    return rows


def writeSliceLabels(rows: list[tuple[str, int, int]], path: Path) -> Path:
    """Write (case id, slice, label) rows as the CSV ``coin_core.data.labels.read_label_csv`` reads."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "slice", "label"])
        writer.writerows(rows)
    return path
