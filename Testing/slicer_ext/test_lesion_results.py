"""The lesion table node and "Save as DICOM SEG" on slicer-core: a phantom with two lesions, real nodes.

The table follows the segment: after the import, after re-thresholding (logic signal) and after an edit
(segment-modified observer, which also marks the segment as edited -> SEMIAUTOMATIC in the DICOM SEG).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from coin_slicer.lesion_results import REF_LESION_TABLE, TABLE_COLUMNS, LesionResults  # noqa: E402
from coin_slicer.scene_helpers import setSegmentMask  # noqa: E402
from coin_slicer.segmentation_logic import ATTR_EDITED, SegmentationLogic  # noqa: E402


@pytest.fixture
def two_lesion_case(tmp_path):
    """A phantom CT written as a DICOM series (and as the NRRD Slicer loads), and COIN-style output files."""
    from dicom_testkit import write_ct_series

    from coin_core.data.phantom import make_phantom
    from coin_core.infer import write_seg_nrrd
    from coin_core.io import read_volume, write_volume

    lesions = [
        {"center": (6, 30, 24), "radius_mm": 8.0, "hu": 300.0, "clip": False},
        {"center": (4, 40, 46), "radius_mm": 5.0, "hu": 250.0, "clip": False},
    ]
    image, _, lesion = make_phantom(
        shape=(10, 64, 64), spacing=(1.0, 1.0, 2.5), lesions=lesions, noise_hu=3.0
    )
    dicom = tmp_path / "series"
    write_ct_series(image, dicom)
    ct = read_volume(dicom)  # the grid of the DICOM series
    write_volume(ct, tmp_path / "ct.nrrd")
    difference = ct.with_array((0.5 * (lesion.array != 0)).astype(np.float32))
    files = {
        "counterfactual": str(tmp_path / "cf.nii.gz"),
        "difference": str(tmp_path / "diff.nii.gz"),
        "segmentation": str(tmp_path / "m.seg.nrrd"),
    }
    write_volume(ct, files["counterfactual"])
    write_volume(difference, files["difference"])
    write_seg_nrrd(ct.with_array(lesion.array), files["segmentation"])
    return tmp_path / "ct.nrrd", dicom, files, ct, lesion.array


def _table_rows(table) -> list[dict[str, str]]:
    t = table.GetTable()
    headers = [t.GetColumnName(c) for c in range(t.GetNumberOfColumns())]
    return [
        {h: t.GetValue(r, c).ToString() for c, h in enumerate(headers)} for r in range(t.GetNumberOfRows())
    ]


def test_table_follows_import_threshold_and_edit(a_scene, two_lesion_case):
    from coin_core.infer.lesion_table import measure_lesions

    ct_file, _, files, ct, lesion = two_lesion_case
    node = a_scene.load(ct_file)
    logic = SegmentationLogic(a_scene.scene, python="unused")
    results = LesionResults(a_scene.scene, logic)
    outputs = logic.importOutputs(node, files, 0.25, "none")
    logic.segmentUpdated.emit(outputs.segmentation)  # what a finished run emits
    table = outputs.segmentation.GetNodeReference(REF_LESION_TABLE)
    assert table is not None and table.GetName() == "CT COIN lesions"
    rows = _table_rows(table)
    expected = measure_lesions(ct.with_array(lesion), ct)
    assert len(rows) == len(expected) == 2
    assert [h for h, _, _ in TABLE_COLUMNS] == list(rows[0])
    for row, want in zip(rows, expected, strict=True):
        assert int(row["Voxels"]) == want.voxels
        assert float(row["Volume (mL)"]) == pytest.approx(want.volume_ml, abs=1e-3)
        assert float(row["Longest axial diameter (mm)"]) == pytest.approx(
            want.longest_axial_diameter_mm, abs=0.05
        )
        assert float(row["Mean HU"]) == pytest.approx(want.mean_hu, abs=0.05)
        assert float(row["Centre R (mm)"]) == pytest.approx(want.center_ras_x_mm, abs=0.05)
    assert outputs.segmentation.GetAttribute(ATTR_EDITED) == "0"

    # the threshold slider: above the difference map -> no lesion; the table follows, no edit recorded
    assert logic.rethreshold(outputs.segmentation, 0.6, "none") == 0
    assert _table_rows(table) == [] and outputs.segmentation.GetAttribute(ATTR_EDITED) == "0"
    assert logic.rethreshold(outputs.segmentation, 0.25, "none") == int(lesion.sum())
    assert len(_table_rows(table)) == 2

    # an edit by hand (what the segment editor does): erase the smaller lesion
    from scipy import ndimage

    labels, _ = ndimage.label(lesion, structure=np.ones((3, 3, 3)))
    keep = labels == labels[6, 30, 24]
    setSegmentMask(outputs.segmentation, outputs.segmentId, keep, node)
    rows = _table_rows(table)
    assert len(rows) == 1 and int(rows[0]["Voxels"]) == int(keep.sum())
    assert outputs.segmentation.GetAttribute(ATTR_EDITED) == "1"
    assert results is not None


def test_save_as_dicom_seg_references_the_series_and_says_it_was_edited(a_scene, two_lesion_case, tmp_path):
    import pydicom
    from dicom_testkit import check_seg_against_source, dciodvfy

    from coin_core.errors import CoinError

    ct_file, dicom, files, ct, lesion = two_lesion_case
    node = a_scene.load(ct_file)
    logic = SegmentationLogic(a_scene.scene, python="unused")
    results = LesionResults(a_scene.scene, logic)
    outputs = logic.importOutputs(node, files, 0.25, "none")
    seg = outputs.segmentation
    path = results.saveDicomSeg(seg, tmp_path / "out" / "lesion_seg.dcm", dicom)
    check_seg_against_source(path, dicom, lesion)
    assert pydicom.dcmread(path).SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    dciodvfy(path)

    results.watch(seg)
    edited = lesion.copy()
    edited[:, :, :40] = 0
    setSegmentMask(seg, outputs.segmentId, edited, node)
    path2 = results.saveDicomSeg(seg, tmp_path / "out" / "edited_seg.dcm", dicom)
    check_seg_against_source(path2, dicom, edited)
    assert pydicom.dcmread(path2).SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"

    with pytest.raises(CoinError, match="not a DICOM folder"):
        results.saveDicomSeg(seg, tmp_path / "out" / "bad.dcm", ct_file)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["edited_seg.dcm", "lesion_seg.dcm"]
