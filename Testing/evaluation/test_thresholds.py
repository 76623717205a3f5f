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
