"""The .seg.nrrd written without Slicer reads back in slicer-core with the same voxels and name."""

from __future__ import annotations

import numpy as np

from coin_core.infer.segnrrd import seg_nrrd_header, segment_extent, write_seg_nrrd
from coin_core.io import Volume, write_volume


def _rotation(ax: float, az: float) -> np.ndarray:
    cx, sx, cz, sz = np.cos(ax), np.sin(ax), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ rx


def _oblique_mask() -> Volume:
    mask = np.zeros((7, 11, 13), dtype=np.uint8)
    mask[2:5, 3:7, 4:10] = 1
    mask[6, 10, 12] = 1  # a corner voxel: catches off-by-one and axis-order mistakes
    direction = _rotation(0.3, 0.5)
    assert np.linalg.det(direction) > 0
    return Volume(
        mask, spacing=(0.7, 0.9, 2.5), origin=(-12.5, 30.0, 101.0), direction=tuple(direction.ravel())
    )


def test_extent_is_ijk_min_max_of_the_segment():
    mask = _oblique_mask().array
    assert segment_extent(mask) == (4, 12, 3, 10, 2, 6)
    assert segment_extent(np.zeros((2, 3, 4), np.uint8)) == (0, -1, 0, -1, 0, -1)


def test_header_carries_the_keys_slicer_reads():
    header = seg_nrrd_header(_oblique_mask())
    for line in (
        "sizes: 13 11 7",
        "space: left-posterior-superior",
        "Segment0_Name:=lesion",
        "Segment0_LabelValue:=1",
        "Segment0_Layer:=0",
        "Segmentation_MasterRepresentation:=Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset:=0 0 0",
        "Segment0_Extent:=4 12 3 10 2 6",
    ):
        assert line in header.splitlines()
    assert "SCT^52988006^Lesion" in header


def test_sitk_reads_the_same_voxels_and_geometry(tmp_path):
    import SimpleITK as sitk

    mask = _oblique_mask()
    write_seg_nrrd(mask, tmp_path / "m.seg.nrrd")
    img = sitk.ReadImage(str(tmp_path / "m.seg.nrrd"))
    assert np.array_equal(sitk.GetArrayFromImage(img), mask.array)
    np.testing.assert_allclose(img.GetSpacing(), mask.spacing, atol=1e-9)
    np.testing.assert_allclose(img.GetOrigin(), mask.origin, atol=1e-9)
    np.testing.assert_allclose(img.GetDirection(), mask.direction, atol=1e-9)
    assert img.GetMetaData("Segment0_Name") == "lesion"


def test_slicer_core_reads_the_segment_back_with_the_same_voxels(tmp_path, slicer_scene):
    import vtk

    slicer, scene, seg_logic, vol_logic = slicer_scene
    mask = _oblique_mask()
    write_volume(mask, tmp_path / "reference.nii.gz")
    write_seg_nrrd(mask, tmp_path / "m.seg.nrrd")

    reference = vol_logic.AddArchetypeVolume(str(tmp_path / "reference.nii.gz"), "reference", 0)
    seg = seg_logic.LoadSegmentationFromFile(str(tmp_path / "m.seg.nrrd"), False, "back")
    assert seg is not None
    segmentation = seg.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    segment = segmentation.GetNthSegment(0)
    assert segment.GetName() == "lesion"
    assert segment.GetLabelValue() == 1

    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segmentation.GetNthSegmentID(0))
    out = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(seg, ids, out, reference)
    back = slicer.util.arrayFromVolume(out)
    expected = slicer.util.arrayFromVolume(reference)
    assert back.shape == expected.shape
    assert np.array_equal(back != 0, expected != 0)
    # right-handed direction: Slicer keeps SimpleITK's voxel order
    assert np.array_equal(back != 0, mask.array != 0)
