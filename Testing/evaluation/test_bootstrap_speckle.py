"""The cluster bootstrap and the speckle figure's pieces (body mask, healthy pixels, percentile)."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.evaluation.bootstrap import ratio_interval, resample_weights, source_slices
from coin_core.evaluation.speckle import PercentileHistogram, Speckle, body_mask, healthy_body


def test_samples_of_one_source_slice_share_a_cluster():
    ids = source_slices(case=[0, 0, 0, 1, 1], slice_index=[3, 3, 4, 3, 3])
    assert ids[0] == ids[1] and ids[3] == ids[4]
    assert len({ids[0], ids[2], ids[3]}) == 3


def test_resamples_are_seeded_and_draw_as_many_clusters_as_there_are():
    w = resample_weights(4, 50, seed=7)
    assert w.shape == (50, 4) and (w.sum(1) == 4).all()
    assert np.array_equal(w, resample_weights(4, 50, seed=7))
    assert not np.array_equal(w, resample_weights(4, 50, seed=8))


def test_draws_of_a_slice_stay_together():
    # two source slices of 10 draws each: one scores IoU 1, the other 0
    num = np.r_[np.ones(10), np.zeros(10)]
    den = np.ones(20)
    clusters = np.r_[np.zeros(10, int), np.ones(10, int)]
    lo, hi = ratio_interval(num, den, clusters, resamples=2000, seed=0)
    # resampling 2 slices gives 0, 0.5 or 1: the interval spans both extremes
    assert lo == 0.0 and hi == 1.0
    # had the 20 draws been resampled one by one, the interval would be far narrower
    lo_i, hi_i = ratio_interval(num, den, np.arange(20), resamples=2000, seed=0)
    assert 0.2 < lo_i < hi_i < 0.8
    # identical slices give a degenerate interval; nothing to resample gives None
    assert ratio_interval(np.ones(4), np.full(4, 2.0), [0, 0, 1, 1]) == [0.5, 0.5]
    assert ratio_interval([], [], []) is None


def test_the_body_is_the_hull_of_the_largest_tissue_region():
    img = np.full((64, 64), -1.0)
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 30) ** 2 + (xx - 30) ** 2 <= 20**2
    img[disk] = 0.2
    img[(yy - 30) ** 2 + (xx - 30) ** 2 <= 6**2] = -1.0  # fat/air inside the body stays body
    img[60:62, 5:60] = 0.5  # the table: a separate, smaller region
    body = body_mask(img)
    assert body[disk].all() and not body[60:62].any()
    assert body.sum() < disk.sum() * 1.05


def test_healthy_pixels_keep_3_pixels_away_from_the_lesion():
    img = np.zeros((1, 40, 40))
    les = np.zeros((1, 40, 40), np.uint8)
    les[0, 20, 20] = 1
    h = healthy_body(img, les)
    assert not h[0, 20, 23] and not h[0, 17, 20] and h[0, 20, 24] and h[0, 16, 20]


def test_the_streaming_percentile_matches_numpy_to_one_bin():
    rng = np.random.default_rng(0)
    v = rng.random(10000) ** 3
    hist = PercentileHistogram()
    hist.update(v[:5000])
    hist.update(v[5000:])
    assert hist.percentile(99.0) == pytest.approx(np.percentile(v, 99.0), abs=2e-4)
    assert PercentileHistogram().percentile(99.0) is None


def test_speckle_passes_only_below_half_the_threshold_on_normal_and_abnormal_slices():
    img = np.zeros((2, 20, 20))
    les = np.zeros((2, 20, 20), np.uint8)
    les[1, 5:8, 5:8] = 1
    maps = np.zeros((2, 20, 20))
    maps[1, 5:8, 5:8] = 0.9  # the lesion itself does not count
    maps[0, :, :5] = 0.05  # a quarter of the normal slice at 0.05
    sp = Speckle()
    sp.update(maps, img, les, np.array([0, 1]))
    r = sp.result(threshold=0.2)
    assert r["normal_p99"] == pytest.approx(0.05, abs=2e-4) and r["abnormal_p99"] <= 1e-4
    assert r["pass"] is True and r["half_threshold"] == pytest.approx(0.1)
    assert sp.result(threshold=0.08)["pass"] is False
