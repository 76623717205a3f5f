"""Threshold and clean-up on hand-built masks (docs/method.md §8.1 and the 3D option)."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.errors import CoinError
from coin_core.infer.postprocess import postprocess_mask, threshold_difference
from coin_core.io import Volume


def _square(mask: np.ndarray, k: int, top: int, left: int, size: int) -> None:
    mask[k, top : top + size, left : left + size] = 1


def test_opening_removes_a_one_pixel_speck_and_keeps_a_blob():
    m = np.zeros((1, 20, 20), np.uint8)
    _square(m, 0, 4, 4, 6)
    m[0, 15, 15] = 1
    out = postprocess_mask(m, "paper")
    assert out[0, 15, 15] == 0
    assert out[0, 4:10, 4:10].all()
    assert out.sum() == 36


def test_paper_keeps_only_the_largest_8_connected_component_per_slice():
    m = np.zeros((2, 30, 30), np.uint8)
    _square(m, 0, 2, 2, 8)  # 64 px, largest on slice 0
    _square(m, 0, 15, 15, 5)  # 25 px, dropped
    _square(m, 1, 20, 20, 4)  # slice 1: its own largest, kept
    out = postprocess_mask(m, "paper")
    assert out[0, 2:10, 2:10].all() and out[0, 15:20, 15:20].sum() == 0
    assert out[1].sum() == 16


def test_diagonal_neighbours_count_as_one_component():
    m = np.zeros((1, 30, 30), np.uint8)
    _square(m, 0, 2, 2, 5)
    _square(m, 0, 7, 7, 5)  # touches the first only at a corner: 8-connected
    _square(m, 0, 20, 20, 6)  # 36 px alone, smaller than 25 + 25
    out = postprocess_mask(m, "paper")
    assert out[0, 2:7, 2:7].all() and out[0, 7:12, 7:12].all()
    assert out[0, 20:26, 20:26].sum() == 0


def test_closing_fills_a_one_pixel_hole_even_at_the_border():
    m = np.zeros((1, 16, 16), np.uint8)
    m[0, 0:10, 0:10] = 1  # touches the top and left borders
    m[0, 5, 5] = 0
    out = postprocess_mask(m, "paper")
    assert out[0, 5, 5] == 1
    assert out[0, 0:10, 0:10].all() and out.sum() == 100


def test_3d_keeps_the_lesion_across_slices_and_drops_a_far_blob():
    m = np.zeros((6, 30, 30), np.uint8)
    for k in (1, 2, 3):
        _square(m, k, 5, 5, 6)  # one lesion through three slices: 108 voxels
    _square(m, 5, 20, 20, 8)  # a bigger blob on one far slice: 64 voxels
    paper = postprocess_mask(m, "paper")
    three_d = postprocess_mask(m, "3d")
    assert paper[5].sum() == 64  # per slice it survives
    assert three_d[5].sum() == 0  # in 3D it is the smaller component
    assert three_d[1:4, 5:11, 5:11].all() and three_d.sum() == 108


def test_none_is_the_raw_threshold():
    m = np.zeros((1, 10, 10), np.uint8)
    m[0, 5, 5] = 1
    assert postprocess_mask(m, "none").sum() == 1
    assert postprocess_mask(m, "paper").sum() == 0


def test_threshold_is_strict_and_in_unit_range():
    diff = np.full((1, 8, 8), 0.25, np.float32)
    assert threshold_difference(diff, 0.25, "none").sum() == 0
    assert threshold_difference(diff, 0.2499, "none").sum() == 64
    with pytest.raises(CoinError, match="outside"):
        threshold_difference(diff, 1.5, "none")
    with pytest.raises(CoinError, match="post-processing"):
        threshold_difference(diff, 0.2, "median")


def test_volume_input_runs_on_axial_slices_and_keeps_geometry():
    """A volume whose k axis points left-right: clean-up must act on its axial (j-i?) planes."""
    # canonical mask: a 6x6 axial square on slices 2..3 plus a 1-voxel speck in slice 5
    canon = np.zeros((8, 12, 10), np.float32)
    canon[2:4, 3:9, 2:8] = 0.9
    canon[5, 1, 1] = 0.9
    # store it as a sagittal-first volume: array axes (k, j, i) = (L, S, P) -> direction columns
    native = np.ascontiguousarray(canon.transpose(2, 0, 1))  # (i_c, k_c, j_c)
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)  # i->P, j->S, k->L
    vol = Volume(native, spacing=(0.8, 2.0, 0.7), origin=(1.0, 2.0, 3.0), direction=tuple(direction.ravel()))
    out = threshold_difference(vol, 0.5, "paper")
    assert out.array.shape == vol.array.shape and out.array.dtype == np.uint8
    assert (out.spacing, out.origin, out.direction) == (vol.spacing, vol.origin, vol.direction)
    back = out.array.transpose(1, 2, 0)  # to canonical (k, j, i)
    assert back[2:4, 3:9, 2:8].all() and back.sum() == 72  # speck removed, squares kept


def test_a_margin_grows_each_slice_by_euclidean_millimetres_with_its_own_pixel_size():
    from coin_core.infer.postprocess import grow_mask

    m = np.zeros((3, 9, 9), np.uint8)
    m[:2, 4, 4] = 1  # slice 2 stays empty
    square = grow_mask(m, 1.0, (1.0, 1.0))
    assert square[0].sum() == 5 and square[0, 3:6, 4].all() and square[0, 4, 3:6].all()  # a plus
    assert grow_mask(m, 1.5, (1.0, 1.0))[0].sum() == 9  # the diagonals lie at 1.41 mm
    # rows of 2 mm, columns of 0.5 mm: 1 mm reaches two columns each side and no row
    aniso = grow_mask(m, 1.0, (2.0, 0.5))
    assert aniso[0].sum() == 5 and aniso[0, 4, 2:7].all()
    per_slice = grow_mask(m, 1.0, [(1.0, 1.0), (2.0, 0.5), (1.0, 1.0)])
    assert (per_slice[0] == square[0]).all() and (per_slice[1] == aniso[1]).all()
    assert per_slice[2].sum() == 0
    assert (grow_mask(m, 0.0, None) == m).all()  # no margin, no pixel size needed


@pytest.mark.parametrize("margin", [-1.0, float("nan"), 25.0, "three"])
def test_an_implausible_margin_is_refused(margin):
    from coin_core.infer.postprocess import threshold_array

    with pytest.raises(CoinError, match="Mask margin .* is outside"):
        threshold_array(np.zeros((1, 8, 8), np.float32), 0.2, "none", margin, (1.0, 1.0))


def test_a_margin_on_a_bare_array_needs_the_pixel_size():
    from coin_core.infer.postprocess import threshold_array

    with pytest.raises(CoinError, match="needs the pixel size"):
        threshold_array(np.zeros((1, 8, 8), np.float32), 0.2, "paper", 2.0)


def test_a_volume_margin_uses_the_volumes_own_spacing_in_any_orientation():
    diff = np.zeros((1, 12, 12), np.float32)  # (k, j, i)
    diff[0, 4:8, 4:8] = 0.9
    # i spacing 0.5 mm, j spacing 2 mm: a 1 mm margin adds two columns (i) each side and no row (j)
    vol = Volume(array=diff, spacing=(0.5, 2.0, 3.0), origin=(0, 0, 0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    out = threshold_difference(vol, 0.5, "paper", margin_mm=1.0).array
    assert out.sum() == 4 * 8 and out[0, 4:8, 2:10].all()
    # the same volume stored with flipped i and j axes gives the same voxels back in its own layout
    flipped = Volume(
        array=diff[:, ::-1, ::-1].copy(), spacing=(0.5, 2.0, 3.0), origin=(0, 0, 0),
        direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1),
    )  # fmt: skip
    out_f = threshold_difference(flipped, 0.5, "paper", margin_mm=1.0).array
    assert (out_f[:, ::-1, ::-1] == out).all()
