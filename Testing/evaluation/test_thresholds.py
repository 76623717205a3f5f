"""Threshold grid search and binarisation with the shared post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.errors import CoinError
from coin_core.evaluation.thresholds import ThresholdSweep, binarize, default_grid


def _maps_and_truth():
    gt = np.zeros((3, 16, 16), np.uint8)
    maps = np.zeros((3, 16, 16), np.float32)
    for k in range(3):
        gt[k, 4:10, 4:10] = 1
        maps[k, 4:10, 4:10] = 0.6  # lesion
        maps[k, 2:12, 2:12] += 0.2  # halo around it: above 0.2 it is included
        maps[k] += 0.05
    return maps, gt


def test_sweep_picks_the_threshold_that_separates_lesion_from_halo():
    maps, gt = _maps_and_truth()
    sweep = ThresholdSweep([0.01, 0.1, 0.3, 0.7, 0.9], postprocess="none")
    sweep.update(maps[:2], gt[:2])
    sweep.update(maps[2:], gt[2:])
    res = sweep.result()
    # 0.01 -> whole map; 0.1 -> halo + lesion (100 px for 36); 0.3, 0.7 -> lesion exactly (0.85 > 0.7)
    assert res.ious[0] == pytest.approx(36 / 256)
    assert res.ious[1] == pytest.approx(36 / 100)
    assert res.ious[2] == pytest.approx(1.0)
    assert res.ious[3] == pytest.approx(1.0)
    assert res.ious[4] == pytest.approx(0.0)
    assert res.best_threshold == 0.3  # the smallest of the tied best
    assert sweep.n_slices == 3


def test_paper_postprocess_removes_specks_and_keeps_the_largest_component():
    m = np.zeros((1, 20, 20), np.float32)
    m[0, 5:12, 5:12] = 1.0
    m[0, 16, 16] = 1.0  # a one-pixel speck
    m[0, 1:3, 15:18] = 1.0  # a smaller blob
    raw = binarize(m, 0.5, "none")
    clean = binarize(m, 0.5, "paper")
    assert raw.sum() == 49 + 1 + 6
    assert clean.sum() == 49
    assert clean.dtype == np.uint8 and clean.shape == m.shape
    assert binarize(m[0], 0.5, "paper").shape == (20, 20)


def test_binarize_rejects_unknown_policies_and_shapes():
    with pytest.raises(CoinError, match="3d"):
        binarize(np.zeros((1, 4, 4)), 0.5, "3d")
    with pytest.raises(CoinError, match=r"\(1, 1, 4, 4\)"):
        binarize(np.zeros((1, 1, 4, 4)), 0.5)


def test_default_grid_covers_the_paper_thresholds():
    grid = default_grid()
    assert np.all(np.diff(grid) > 0) and grid[0] > 0 and grid[-1] < 1
    assert np.isclose(grid, 0.975).any()
    assert np.isclose(grid, 0.26).any() and np.isclose(grid, 0.24).any()


def test_the_margin_is_tuned_with_the_threshold_when_masks_miss_the_rim():
    from coin_core.infer.postprocess import grow_mask

    core = np.zeros((4, 24, 24), np.uint8)
    core[:, 8:14, 9:15] = 1
    maps = core * np.float32(0.8)
    gt = grow_mask(core, 2.0, (1.0, 1.0))  # the lesion reaches 2 mm beyond what the map marks
    sweep = ThresholdSweep([0.3, 0.9], postprocess="paper", margins=(0, 1, 2, 3))
    sweep.update(maps, gt, pixel_mm=(1.0, 1.0))
    res = sweep.result()
    assert res.margins_mm == [0.0, 1.0, 2.0, 3.0]
    assert res.best_margin_mm == 2.0 and res.best_threshold == 0.3 and res.best_iou == pytest.approx(1.0)
    assert res.ious == res.ious_by_margin[0] and res.ious[0] == pytest.approx(core.sum() / gt.sum())
    # the same maps at 2 mm pixels: one pixel is already 2 mm, so 2 mm gives a one-pixel ring
    coarse = ThresholdSweep([0.3], postprocess="paper", margins=(0, 1, 2))
    coarse.update(maps, grow_mask(core, 2.0, (2.0, 2.0)), pixel_mm=np.full((4, 2), 2.0))
    assert coarse.result().best_margin_mm == 2.0
    # binarize applies the same margin as the sweep
    assert (binarize(maps, 0.3, "paper", 2.0, (1.0, 1.0)) == gt).all()


def test_ties_go_to_no_margin_and_a_margin_grid_needs_pixel_sizes():
    maps, gt = _maps_and_truth()
    sweep = ThresholdSweep([0.3], postprocess="none", margins=(2, 1))  # 0 is always added
    sweep.update(maps, gt, pixel_mm=(1.0, 1.0))
    res = sweep.result()
    assert res.margins_mm == [0.0, 1.0, 2.0] and res.best_margin_mm == 0.0 and res.best_iou == 1.0
    with pytest.raises(CoinError, match="needs the maps' pixel size"):
        sweep.update(maps, gt)
    with pytest.raises(CoinError, match="outside"):
        ThresholdSweep([0.3], margins=(-2,))


def test_frame_pixel_sizes_follow_the_resize_and_are_unknown_without_the_record():
    from coin_core.evaluation.evaluate import frame_pixel_sizes

    meta = {"input_size": 256, "cases": [{"frame_pixel_mm": [1.4, 1.5]}, {"frame_pixel_mm": [0.7, 0.7]}]}
    px = frame_pixel_sizes(meta, np.array([1, 0, 0]), 128)
    assert px.tolist() == [[1.4, 1.4], [2.8, 3.0], [2.8, 3.0]]
    assert frame_pixel_sizes({"input_size": 256, "cases": [{"id": "old"}]}, np.array([0]), 128) is None
    assert frame_pixel_sizes({}, np.array([0]), 128) is None
