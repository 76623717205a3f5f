"""Lesion measurements per connected component, against independent computations and known shapes."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from conftest import reorient

from coin_core.errors import CoinError
from coin_core.infer.lesion_table import COLUMNS, measure_lesions, write_lesions_csv
from coin_core.io import Volume


def _ellipsoid_phantom():  # noqa: ANN202
    from coin_core.data.phantom import make_phantom

    lesions = [
        {"center": (8, 40, 30), "radius_mm": (10.0, 9.0, 9.0), "hu": 300.0, "clip": False},  # r_k, r_j, r_i
        {"center": (5, 55, 65), "radius_mm": (6.0, 5.0, 5.0), "hu": 250.0, "clip": False},
    ]
    image, _, mask = make_phantom(
        shape=(16, 96, 96), spacing=(0.8, 0.8, 2.0), lesions=lesions, noise_hu=5.0, spleen=False
    )
    return image, mask


def test_two_ellipsoids_volume_diameter_hu_slices_and_centre():
    from scipy import ndimage

    image, mask = _ellipsoid_phantom()
    lesions = measure_lesions(mask, image)
    assert len(lesions) == 2
    big, small = lesions
    assert big.voxels > small.voxels and (big.lesion, small.lesion) == (1, 2)
    # the ellipsoid's volume and axial diameter, up to the voxel grid
    assert big.volume_ml == pytest.approx(4 / 3 * math.pi * 10 * 9 * 9 / 1000, rel=0.08)
    assert big.longest_axial_diameter_mm == pytest.approx(18.0, abs=1.6)  # 2 x 9 mm, +- 2 pixels
    assert small.longest_axial_diameter_mm == pytest.approx(10.0, abs=1.6)
    # independent: scipy's components, numpy's statistics (identity direction: canonical = stored order)
    labels, n = ndimage.label(mask.array != 0, structure=np.ones((3, 3, 3)))
    assert n == 2
    for lesion in lesions:
        k, j, i = (int(round(v)) for v in np.array([8, 40, 30] if lesion is big else [5, 55, 65]))
        comp = labels == labels[k, j, i]
        assert lesion.voxels == int(comp.sum())
        assert lesion.mean_hu == pytest.approx(float(image.array[comp].mean()), abs=1e-3)
        assert lesion.max_hu == pytest.approx(float(image.array[comp].max()), abs=1e-3)
        ks = np.flatnonzero(comp.any(axis=(1, 2)))
        assert (lesion.slice_first, lesion.slice_last) == (int(ks[0]), int(ks[-1]))
        assert lesion.slice_first <= lesion.diameter_slice <= lesion.slice_last
        idx = np.argwhere(comp).mean(axis=0)[::-1]  # (i, j, k)
        lps = np.asarray(image.origin) + np.asarray(image.spacing) * idx
        np.testing.assert_allclose(lesion.center_lps, lps, atol=1e-6)
        np.testing.assert_allclose(lesion.center_ras, (-lps[0], -lps[1], lps[2]), atol=1e-6)


def test_the_same_lesions_measured_on_an_oblique_permuted_copy():
    image, mask = _ellipsoid_phantom()
    plain = measure_lesions(mask, image)
    moved = measure_lesions(reorient(mask), reorient(image))
    angle = 0.12  # reorient's tilt about S
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    assert [m.voxels for m in moved] == [p.voxels for p in plain]
    for p, m in zip(plain, moved, strict=True):
        assert m.volume_ml == pytest.approx(p.volume_ml)
        assert m.mean_hu == pytest.approx(p.mean_hu, abs=1e-3)
        assert m.longest_axial_diameter_mm == pytest.approx(p.longest_axial_diameter_mm, rel=1e-6)
        np.testing.assert_allclose(m.center_lps, rot @ np.asarray(p.center_lps), atol=1e-6)


def test_empty_mask_gives_no_row_and_a_header_only_csv(tmp_path):
    image, mask = _ellipsoid_phantom()
    assert measure_lesions(mask.with_array(np.zeros_like(mask.array)), image) == []
    write_lesions_csv([], tmp_path / "l.csv")
    assert (tmp_path / "l.csv").read_text().strip() == ",".join(COLUMNS)


def test_csv_round_trip_without_the_ct(tmp_path):
    _, mask = _ellipsoid_phantom()
    lesions = measure_lesions(mask)
    write_lesions_csv(lesions, tmp_path / "l.csv")
    with open(tmp_path / "l.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["voxels"]) for r in rows] == [les.voxels for les in lesions]
    assert all(r["mean_hu"] == "" and r["max_hu"] == "" for r in rows)
    assert float(rows[0]["longest_axial_diameter_mm"]) == pytest.approx(
        lesions[0].longest_axial_diameter_mm, abs=1e-3
    )


def test_ct_on_another_grid_is_refused():
    image, mask = _ellipsoid_phantom()
    other = Volume(image.array[:, :, :90], image.spacing, image.origin, image.direction)
    with pytest.raises(CoinError, match="not on the CT's grid") as err:
        measure_lesions(mask, other)
    assert err.value.hint
