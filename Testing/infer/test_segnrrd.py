"""The .seg.nrrd written with slicerio reads back in slicer-core with the same voxels, name and codes."""

from __future__ import annotations

import numpy as np

from coin_core.infer.coding import SegmentCoding, anatomy_code
from coin_core.infer.segnrrd import segment_extent, write_seg_nrrd
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


def _header(path) -> list[str]:  # noqa: ANN001
    raw = path.read_bytes()
    return raw[: raw.index(b"\n\n")].decode("ascii").splitlines()


def test_header_carries_the_keys_slicer_reads(tmp_path):
    write_seg_nrrd(
        _oblique_mask(), tmp_path / "m.seg.nrrd", coding=SegmentCoding(anatomy=anatomy_code("Kidney"))
    )
    header = _header(tmp_path / "m.seg.nrrd")
    for line in (
        "sizes: 13 11 7",
        "space: left-posterior-superior",
        "Segment0_Name:=lesion",
        "Segment0_ID:=lesion",
        "Segment0_LabelValue:=1",
        "Segment0_Layer:=0",
        "Segmentation_MasterRepresentation:=Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset:=0 0 0",
        "Segment0_Extent:=4 12 3 10 2 6",
        "Segment0_Tags:=TerminologyEntry:Segmentation category and type - 3D Slicer General Anatomy list"
        "~SCT^49755003^Morphologically Altered Structure~SCT^4147007^Mass~^^"
        "~Anatomic codes - DICOM master list~SCT^64033007^Kidney~^^|",
    ):
        assert line in header


def test_slicerio_reads_back_the_terminology(tmp_path):
    import slicerio

    write_seg_nrrd(
        _oblique_mask(), tmp_path / "m.seg.nrrd", coding=SegmentCoding(anatomy=anatomy_code("liver"))
    )
    seg = slicerio.read_segmentation(str(tmp_path / "m.seg.nrrd"))
    (segment,) = seg["segments"]
    assert segment["terminology"]["type"] == ["SCT", "4147007", "Mass"]
    assert segment["terminology"]["anatomicRegion"] == ["SCT", "10200004", "Liver"]
    assert np.array_equal(np.asarray(seg["voxels"]).transpose(2, 1, 0), _oblique_mask().array)


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
    write_seg_nrrd(mask, tmp_path / "m.seg.nrrd", coding=SegmentCoding(anatomy=anatomy_code("kidney")))

    reference = vol_logic.AddArchetypeVolume(str(tmp_path / "reference.nii.gz"), "reference", 0)
    seg = seg_logic.LoadSegmentationFromFile(str(tmp_path / "m.seg.nrrd"), False, "back")
    assert seg is not None
    segmentation = seg.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    segment = segmentation.GetNthSegment(0)
    assert segment.GetName() == "lesion"
    assert segment.GetLabelValue() == 1
    np.testing.assert_allclose(segment.GetColor(), (144 / 255, 238 / 255, 144 / 255), atol=1e-5)
    tag = vtk.reference("")
    assert segment.GetTag(segment.GetTerminologyEntryTagName(), tag)
    assert "SCT^4147007^Mass" in str(tag) and "SCT^64033007^Kidney" in str(tag)

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
