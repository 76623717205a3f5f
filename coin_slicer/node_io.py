"""Volume nodes (and segments) <-> files and arrays, without touching the scene.

Everything here works on nodes that are *not* added to the scene (storage nodes are created
stand-alone), so a failed read or write leaves the scene exactly as it was. Geometry always comes
from the input volume node: outputs of the worker are checked against it and then copied onto the
new nodes with ``CopyOrientation``, so their IJK-to-RAS matrices equal the input's exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GEOMETRY_TOLERANCE_MM = 1e-3


def writeVolumeFile(volumeNode, path: str | Path) -> Path:
    """Write ``volumeNode``'s voxels and geometry to ``path`` (.nrrd/.nii.gz) without changing the node.

    Raises:
        RuntimeError: the node has no voxels or the file could not be written.
    """
    import slicer

    if volumeNode is None or volumeNode.GetImageData() is None:
        name = volumeNode.GetName() if volumeNode is not None else "None"
        raise RuntimeError(f"The volume '{name}' has no voxels; load an image into it first.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(0)
    if not storage.WriteData(volumeNode):
        raise RuntimeError(
            f"Could not write the volume '{volumeNode.GetName()}' to {path}; is the disk full?"
        )
    return path


def readVolumeFile(path: str | Path, labelmap: bool = False):
    """Read an image file into a new volume node that is not in any scene."""
    import slicer

    node = slicer.vtkMRMLLabelMapVolumeNode() if labelmap else slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    if labelmap:
        storage.SetCenterImage(0)
    if not Path(path).is_file() or not storage.ReadData(node) or node.GetImageData() is None:
        raise RuntimeError(f"Could not read the worker output {path}; the file is missing or not an image.")
    return node


def ijkToRas(volumeNode) -> np.ndarray:
    """The node's 4x4 IJK-to-RAS matrix as numpy."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def checkSameGeometry(node, reference, what: str) -> None:
    """Raise ``RuntimeError`` unless ``node`` has ``reference``'s grid (dimensions and IJK-to-RAS)."""
    dims, refDims = node.GetImageData().GetDimensions(), reference.GetImageData().GetDimensions()
    if dims != refDims:
        raise RuntimeError(f"The worker's {what} has size {dims}, the input has {refDims}.")
    error = float(np.abs(ijkToRas(node) - ijkToRas(reference)).max())
    if error > GEOMETRY_TOLERANCE_MM:
        raise RuntimeError(
            f"The worker's {what} is not on the input's grid (geometry differs by {error:.3g} mm); "
            "please report this with the input file."
        )


def arrayFromNode(node) -> np.ndarray:
    """A copy of the node's voxels in (k, j, i) order."""
    import slicer

    return np.array(slicer.util.arrayFromVolume(node), copy=True)


def setNodeArray(node, array: np.ndarray, reference) -> None:
    """Give ``node`` the voxels ``array`` (k, j, i) and exactly ``reference``'s geometry."""
    import slicer

    node.CopyOrientation(reference)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))


def writeLabelFile(mask: np.ndarray, reference, path: str | Path) -> Path:
    """Write ``mask`` ((k, j, i), values 0/1) as a label map on ``reference``'s grid to ``path``."""
    import slicer

    labelmap = slicer.vtkMRMLLabelMapVolumeNode()  # never added to the scene
    setNodeArray(labelmap, np.asarray(mask, dtype=np.uint8), reference)
    return writeVolumeFile(labelmap, path)


def segmentArray(segmentationNode, segmentId: str, referenceVolume) -> np.ndarray:
    """The segment as a (k, j, i) uint8 array on ``referenceVolume``'s grid.

    Adds nothing to the scene (a temporary node would disturb the segment editor and the views).
    """
    import slicer
    from vtk.util import numpy_support

    logic = slicer.vtkSlicerSegmentationsModuleLogic
    shape = tuple(referenceVolume.GetImageData().GetDimensions())[::-1]
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    if segment is None:
        raise RuntimeError(f"The segmentation '{segmentationNode.GetName()}' has no segment '{segmentId}'.")
    stored = slicer.vtkOrientedImageData()
    if not logic.GetSegmentBinaryLabelmapRepresentation(segmentationNode, segmentId, stored):
        return np.zeros(shape, np.uint8)
    extent = stored.GetExtent()
    if extent[1] < extent[0] or extent[3] < extent[2] or extent[5] < extent[4]:
        return np.zeros(shape, np.uint8)  # an empty segment
    reference = logic.CreateOrientedImageDataFromVolumeNode(referenceVolume)
    resampled = slicer.vtkOrientedImageData()
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        stored, reference, resampled, False
    ):
        raise RuntimeError(f"Could not resample segment '{segmentId}' onto '{referenceVolume.GetName()}'.")
    values = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars())
    # segments share labelmap layers: this segment's voxels hold its label value
    return (values.reshape(shape) == segment.GetLabelValue()).astype(np.uint8)


def volumeFromNode(node):
    """The node as a ``coin_core.io.Volume`` (LPS geometry, SimpleITK axis order), voxels copied."""
    from coin_core.io import Volume

    flip = np.diag([-1.0, -1.0, 1.0])  # RAS -> LPS
    matrix = ijkToRas(node)
    spacing = np.array(node.GetSpacing())
    direction = flip @ (matrix[:3, :3] / spacing)  # columns: the i, j, k axes in LPS
    origin = flip @ matrix[:3, 3]
    return Volume(
        array=arrayFromNode(node),
        spacing=tuple(float(s) for s in node.GetSpacing()),
        origin=tuple(float(o) for o in origin),
        direction=tuple(float(d) for d in direction.flatten()),
    )
