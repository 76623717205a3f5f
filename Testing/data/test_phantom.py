"""The procedural CT phantom: HU ranges, labels, lesions with exact masks, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.data.phantom import HU, make_phantom
from coin_core.errors import CoinError


def test_shapes_types_and_geometry():
    img, lab, les = make_phantom(shape=(10, 48, 64), spacing=(2.0, 2.0, 4.0), seed=0)
    assert img.array.shape == lab.array.shape == les.array.shape == (10, 48, 64)
    assert img.array.dtype == np.float32 and lab.array.dtype == np.uint8 and les.array.dtype == np.uint8
    assert img.spacing == (2.0, 2.0, 4.0) and img.direction == (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
    assert set(np.unique(lab.array)) == {0, 1, 2, 3}
    assert les.array.sum() == 0


def test_hu_values_are_realistic():
    img, lab, _ = make_phantom(shape=(24, 96, 96), seed=1, noise_hu=15.0)
    a, lab = img.array, lab.array
    for name, lid in (("kidney", 1), ("liver", 2), ("spleen", 3)):
        vals = a[lab == lid]
        assert abs(np.median(vals) - HU[name]) < 3.0, name
        assert 10.0 < vals.std() < 20.0, name  # the noise sigma
    assert abs(np.median(a[:, :3, :3]) + 1000) < 5  # air in the corners
    assert 600 < a.max() < 800  # vertebral cortex
    assert (np.abs(a - HU["fat"]) < 30).sum() > 1000  # a fat ring exists
    # kidneys on both sides of the midline, liver on the patient's right (low column index)
    cols_k = np.nonzero(lab == 1)[2]
    assert (cols_k < 48).any() and (cols_k >= 48).any()
    assert np.nonzero(lab == 2)[2].mean() < 48


def test_same_seed_same_phantom_other_seed_other_noise():
    a = make_phantom(shape=(8, 32, 32), seed=3, lesions=2)
    b = make_phantom(shape=(8, 32, 32), seed=3, lesions=2)
    c = make_phantom(shape=(8, 32, 32), seed=4, lesions=2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.array, y.array)
    assert not np.array_equal(a[0].array, c[0].array)


@pytest.mark.parametrize("lesion_hu", [30.0, 320.0])
def test_random_lesions_sit_inside_the_host_with_exact_masks(lesion_hu):
    img, lab, les = make_phantom(shape=(24, 96, 96), seed=2, lesions=3, lesion_hu=lesion_hu, noise_hu=10.0)
    m = les.array.astype(bool)
    assert m.sum() > 20
    assert np.all(lab.array[m] == 1)  # clipped to the kidney (host), which is inside the body
    assert abs(np.median(img.array[m]) - lesion_hu) < 3.0
    # outside the mask the kidney keeps its own intensity: the mask is exactly the changed voxels
    assert abs(np.median(img.array[(lab.array == 1) & ~m]) - HU["kidney"]) < 3.0


def test_explicit_lesion_and_lesion_label():
    _, lab0, _ = make_phantom(shape=(24, 96, 96), seed=0)
    k, j, i = (int(v.mean()) for v in np.nonzero(lab0.array == 2))  # liver centre
    spec = [{"center": (k, j, i), "radius_mm": 10.0, "hu": -20.0}]
    img, lab, les = make_phantom(shape=(24, 96, 96), seed=0, lesions=spec, lesion_host=2, lesion_label=4)
    m = les.array.astype(bool)
    assert m[k, j, i] and np.all(lab.array[m] == 4)
    # a 10 mm sphere on a 3.6 x 3.6 x 5 mm grid: volume close to 4/3 pi r^3
    expected = 4 / 3 * np.pi * 10.0**3 / (3.6 * 3.6 * 5.0)
    assert 0.7 * expected < m.sum() < 1.3 * expected
    assert abs(np.median(img.array[m]) + 20.0) < 5


def test_errors():
    with pytest.raises(CoinError, match="shape"):
        make_phantom(shape=(2, 32, 32))
    with pytest.raises(CoinError, match="no voxel of host label 9"):
        make_phantom(shape=(8, 32, 32), lesions=1, lesion_host=9)
