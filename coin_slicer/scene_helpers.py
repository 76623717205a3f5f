"""Small scene operations shared by the COIN logics: display settings, subject hierarchy, roll-back."""

from __future__ import annotations

import numpy as np

# colour tables for the difference overlay, first one present wins (all exist in desktop Slicer)
DIFFERENCE_COLOR_NODE_IDS = (
    "vtkMRMLPETProceduralColorNodePET-Heat",
    "vtkMRMLColorTableNodeRainbow",
)


def removeNodesNotIn(scene, keepIds: set[str]) -> None:
    """Remove every node whose ID is not in ``keepIds`` (roll back a partly done import)."""
    extra = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    for node in reversed(extra):
        if node is not None and node.GetID() not in keepIds:
            scene.RemoveNode(node)


def setSegmentMask(segmentationNode, segmentId: str, mask: np.ndarray, referenceVolume) -> None:
    """Replace the voxels of one segment by ``mask`` ((k, j, i) booleans on ``referenceVolume``'s grid)."""
    import slicer

    logic = slicer.vtkSlicerSegmentationsModuleLogic
    labelmap = slicer.vtkMRMLLabelMapVolumeNode()  # never added to the scene
    labelmap.CopyOrientation(referenceVolume)
    slicer.util.updateVolumeFromArray(labelmap, np.ascontiguousarray(mask, dtype=np.uint8))
    image = logic.CreateOrientedImageDataFromVolumeNode(labelmap)
    if image is None or not logic.SetBinaryLabelmapToSegment(
        image, segmentationNode, segmentId, logic.MODE_REPLACE, image.GetExtent()
    ):
        raise RuntimeError(
            f"Could not write the mask into segment '{segmentId}' of '{segmentationNode.GetName()}'; "
            "is the Segmentations module loaded?"
        )


def showLikeInput(volumeNode, inputVolume) -> None:
    """Display ``volumeNode`` with the input's colour table and window/level."""
    volumeNode.CreateDefaultDisplayNodes()
    display, inputDisplay = volumeNode.GetDisplayNode(), inputVolume.GetDisplayNode()
    if display is None or inputDisplay is None:
        return
    if inputDisplay.GetColorNodeID():
        display.SetAndObserveColorNodeID(inputDisplay.GetColorNodeID())
    display.SetAutoWindowLevel(False)
    display.SetWindowLevel(inputDisplay.GetWindow(), inputDisplay.GetLevel())


def showDifference(scene, differenceNode, threshold: float) -> None:
    """Colour the difference map as a foreground overlay; values under half the threshold stay clear."""
    differenceNode.CreateDefaultDisplayNodes()
    display = differenceNode.GetDisplayNode()
    if display is None:
        return
    for colorId in DIFFERENCE_COLOR_NODE_IDS:
        if scene.GetNodeByID(colorId) is not None:
            display.SetAndObserveColorNodeID(colorId)
            break
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(0.0, max(2.0 * threshold, 1e-3))
    display.SetLowerThreshold(0.5 * threshold)
    display.SetUpperThreshold(1e6)
    display.SetApplyThreshold(True)


def placeNextTo(scene, inputVolume, nodes: list) -> None:
    """Put ``nodes`` under the input's parent (its study) in the subject hierarchy, when there is one."""
    shNode = scene.GetFirstNodeByClass("vtkMRMLSubjectHierarchyNode")
    if shNode is None or not nodes:
        return
    inputItem = shNode.GetItemByDataNode(inputVolume)
    if not inputItem:
        return
    parent = shNode.GetItemParent(inputItem)
    for node in nodes:
        if not node.IsA("vtkMRMLDisplayableNode"):
            continue
        item = shNode.GetItemByDataNode(node)
        if item:
            shNode.SetItemParent(item, parent)
        else:
            shNode.CreateItem(parent, node)
