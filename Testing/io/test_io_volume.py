"""Volume files: geometry survives write -> read, and bad inputs give CoinErrors naming the path."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from iotest_util import png_bytes_rgb

from coin_core.errors import CoinError
from coin_core.io import Volume, read_volume, write_volume


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture
def oblique_volume() -> Volume:
    """Anisotropic, oblique, off-origin CT-like volume (int16 HU)."""
    rng = np.random.default_rng(1)
    array = rng.integers(-1024, 2000, size=(7, 9, 11), dtype=np.int16)
    return Volume(
        array=array,
        spacing=(0.7, 0.9, 2.5),
        origin=(-123.4, 56.7, -89.1),  # NIfTI stores float32: keep |origin| < 128 for 1e-5 mm
        direction=tuple(_rotation(0.3, -0.2, 0.5).ravel()),
    )


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_voxels_and_geometry(tmp_path: Path, oblique_volume: Volume, suffix: str) -> None:
    path = tmp_path / f"case.v1{suffix}"
    write_volume(oblique_volume, path)
    back = read_volume(path)
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, oblique_volume.array)
    np.testing.assert_allclose(back.spacing, oblique_volume.spacing, atol=1e-5)
    np.testing.assert_allclose(back.origin, oblique_volume.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, oblique_volume.direction, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "temporary file left behind"


def test_float_and_mask_volumes_round_trip(tmp_path: Path, oblique_volume: Volume) -> None:
    diff = oblique_volume.with_array(np.linspace(0, 1, oblique_volume.array.size).reshape(7, 9, 11))
    write_volume(diff, tmp_path / "d.nrrd")
    back = read_volume(tmp_path / "d.nrrd")
    assert back.array.dtype == np.float32
    np.testing.assert_allclose(back.array, diff.array, atol=1e-7)
    mask = oblique_volume.with_array(oblique_volume.array > 500)
    write_volume(mask, tmp_path / "m.nii.gz")
    back = read_volume(tmp_path / "m.nii.gz")
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, mask.array.astype(np.uint8))


def test_files_are_written_compressed(tmp_path: Path) -> None:
    vol = Volume(np.zeros((20, 40, 40), np.int16), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_volume(vol, tmp_path / "z.nii.gz")
    assert (tmp_path / "z.nii.gz").read_bytes()[:2] == b"\x1f\x8b"
    write_volume(vol, tmp_path / "z.nii")
    assert (tmp_path / "z.nii").read_bytes()[344:347] == b"n+1"  # plain NIfTI-1, not gzip
    write_volume(vol, tmp_path / "z.nrrd")
    assert b"encoding: gzip" in (tmp_path / "z.nrrd").read_bytes()[:1000]
    write_volume(vol, tmp_path / "z.mha")
    assert b"CompressedData = True" in (tmp_path / "z.mha").read_bytes()[:1000]
    assert (tmp_path / "z.mha").stat().st_size < 20 * 40 * 40 * 2 / 10


def test_write_refuses_unknown_suffix_and_leaves_nothing(tmp_path: Path, oblique_volume: Volume) -> None:
    with pytest.raises(CoinError, match=r"out\.png"):
        write_volume(oblique_volume, tmp_path / "out.png")
    with pytest.raises(CoinError, match=r"out\.mhd"):
        write_volume(oblique_volume, tmp_path / "out.mhd")
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_file_as_folder_is_a_coin_error(tmp_path: Path, oblique_volume: Volume) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CoinError, match="afile"):
        write_volume(oblique_volume, tmp_path / "afile" / "out.nii.gz")
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_reads_mhd_and_nhdr_headers(tmp_path: Path, oblique_volume: Volume) -> None:
    img = oblique_volume.to_sitk()
    for name in ("a.mhd", "b.nhdr"):
        sitk.WriteImage(img, str(tmp_path / name))
        back = read_volume(tmp_path / name)
        np.testing.assert_array_equal(back.array, oblique_volume.array)
        np.testing.assert_allclose(back.direction, oblique_volume.direction, atol=1e-6)


def test_4d_with_one_time_point_is_read_as_3d(tmp_path: Path, oblique_volume: Volume) -> None:
    img4 = sitk.JoinSeries([oblique_volume.to_sitk()])
    sitk.WriteImage(img4, str(tmp_path / "t1.nii.gz"))
    back = read_volume(tmp_path / "t1.nii.gz")
    np.testing.assert_array_equal(back.array, oblique_volume.array)


def test_volume_rejects_wrong_shapes() -> None:
    vol = Volume(np.zeros((2, 3, 4)), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(ValueError, match="shape"):
        vol.with_array(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="3D"):
        Volume(np.zeros((3, 4)), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


# ---- bad inputs: each one a CoinError that names the path ----------------------------------------


def _expect_error(path: Path, *words: str) -> str:
    with pytest.raises(CoinError) as info:
        read_volume(path)
    text = str(info.value)
    assert str(path) in text
    for word in words:
        assert word.lower() in text.lower(), text
    assert info.value.hint, "a CoinError must say what to do"
    return text


def test_missing_path(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.nii.gz", "does not exist")


def test_2d_image(tmp_path: Path) -> None:
    path = tmp_path / "slice.nii.gz"
    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkInt16), str(path))
    _expect_error(path, "2D")


def test_single_slice_3d_file_is_2d(tmp_path: Path) -> None:
    path = tmp_path / "one.nrrd"
    sitk.WriteImage(sitk.Image(16, 16, 1, sitk.sitkInt16), str(path))
    _expect_error(path, "2D")


def test_4d_image(tmp_path: Path) -> None:
    path = tmp_path / "dyn.nii.gz"
    frame = sitk.Image(6, 6, 4, sitk.sitkInt16)
    sitk.WriteImage(sitk.JoinSeries([frame, frame, frame]), str(path))
    _expect_error(path, "4D")


def test_vector_volume(tmp_path: Path) -> None:
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.Image([6, 6, 4], sitk.sitkVectorUInt8, 3), str(path))
    _expect_error(path, "RGB")


def test_rgb_png(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes_rgb())
    _expect_error(path, "RGB")


def test_garbage_named_nii_gz(tmp_path: Path) -> None:
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(np.random.default_rng(0).bytes(3000))
    _expect_error(path, "could not read")


def test_truncated_nii_gz(tmp_path: Path) -> None:
    path = tmp_path / "cut.nii.gz"
    vol = Volume(np.ones((30, 30, 30), np.int16), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_volume(vol, path)
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    _expect_error(path, "truncated")


def test_truncated_uncompressed_nii(tmp_path: Path) -> None:
    path = tmp_path / "cut.nii"
    vol = Volume(np.ones((30, 30, 30), np.int16), (1, 1, 1), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_volume(vol, path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 100])
    _expect_error(path, "truncated")


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_truncated_nrrd_and_mha(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"cut{suffix}"
    vol = Volume(
        np.arange(27000, dtype=np.int16).reshape(30, 30, 30),
        (1, 1, 1),
        (0, 0, 0),
        (1, 0, 0, 0, 1, 0, 0, 0, 1),
    )
    write_volume(vol, path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    _expect_error(path, "could not read")


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "notes.xyz"
    path.write_text("not an image")
    _expect_error(path, "unknown suffix")


def test_empty_folder(tmp_path: Path) -> None:
    _expect_error(tmp_path, "empty")


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "series1").mkdir()
    text = _expect_error(tmp_path, "no dicom")
    assert "series1" in text  # points at the sub-folder


def test_series_uid_for_a_file(tmp_path: Path, oblique_volume: Volume) -> None:
    path = tmp_path / "v.mha"
    write_volume(oblique_volume, path)
    with pytest.raises(CoinError, match="series UID"):
        read_volume(path, series_uid="1.2.3")


def test_import_stays_free_of_torch_and_simpleitk() -> None:
    code = (
        "import sys, coin_core.io; "
        "bad = [m for m in ('torch', 'SimpleITK') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
