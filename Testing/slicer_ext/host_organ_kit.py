"""Host-organ segments for the Slicer-extension tests (a uniquely named module: ``conftest`` is ambiguous
once every test folder's conftest is imported)."""

from __future__ import annotations

import numpy as np


def organ_masks(ct_file) -> dict[str, np.ndarray]:  # noqa: ANN001
    """(k, j, i) masks on the CT fixture's grid: its organ split into two halves, and a 'liver' block."""
    from coin_core.io import read_volume

    shape = read_volume(ct_file).array.shape
    k, j, i = np.mgrid[0 : shape[0], 0 : shape[1], 0 : shape[2]]
    organ = ((j - 18) / 7.0) ** 2 + ((i - 28) / 8.0) ** 2 + ((k - 8) / 6.0) ** 2 < 1
    return {
        "kidney_left": organ & (i < 28),
        "kidney_right": organ & (i >= 28),
        "liver": (k <= 1) & (j > 5) & (j < 30) & (i > 5) & (i < 40),
    }


def add_segmentation(scene, ct, masks: dict[str, np.ndarray], name: str = "organs"):  # noqa: ANN001, ANN201
    """A segmentation node with one segment per mask, on the CT's grid; returns (node, {name: id})."""
    from coin_slicer.scene_helpers import setSegmentMask

    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    ids = {}
    for segmentName, mask in masks.items():
        ids[segmentName] = node.GetSegmentation().AddEmptySegment("", segmentName)
        setSegmentMask(node, ids[segmentName], mask, ct)
    return node, ids
