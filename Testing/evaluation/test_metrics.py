"""Metrics against hand-computed values on tiny 2D and 3D arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from coin_core.errors import CoinError
from coin_core.evaluation.metrics import (
    FeatureStats,
    GroupedScores,
    MicroIoU,
    confusion,
    counterfactual_validity,
    dice,
    frechet_distance,
    frechet_distance_from_stats,
    iou,
)


def test_confusion_iou_and_dice_of_a_2d_pair_match_hand_counts():
    pred = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    gt = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    # TP = 2 (0,0),(1,1); FP = 1 (0,1); FN = 1 (1,2)
    assert confusion(pred, gt) == (2, 1, 1)
    assert iou(pred, gt) == pytest.approx(2 / 4)
    assert dice(pred, gt) == pytest.approx(4 / 6)


def test_torch_tensors_give_the_same_counts_as_numpy():
    pred = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    gt = torch.tensor([[[1, 1], [0, 1]]], dtype=torch.uint8)
    assert confusion(pred, gt) == (2, 1, 1)


def test_micro_iou_pools_pixels_while_the_slice_mean_weights_slices_equally():
    # slice 0: big lesion of 8 px, prediction hits all 8 -> IoU 1
    # slice 1: 1 px lesion, prediction 1 px elsewhere -> IoU 0
    gt = np.zeros((2, 4, 4), np.uint8)
    pred = np.zeros((2, 4, 4), np.uint8)
    gt[0, :2, :] = 1
    pred[0, :2, :] = 1
    gt[1, 3, 3] = 1
    pred[1, 0, 0] = 1
    micro = MicroIoU()
    micro.update(pred[:1], gt[:1])
    micro.update(pred[1:], gt[1:])
    # ΣTP=8, ΣFP=1, ΣFN=1 -> 8/10
    assert micro.iou() == pytest.approx(0.8)
    assert micro.dice() == pytest.approx(16 / 18)
    per_slice = GroupedScores()
    per_slice.update(pred, gt, [0, 1])
    assert per_slice.mean("iou") == pytest.approx(0.5)
    assert per_slice.mean("dice") == pytest.approx(0.5)
    # grouped into one case, the case score equals the micro score
    one_case = GroupedScores()
    one_case.update(pred, gt, [7, 7])
    assert one_case.per_group() == {7: {"dice": pytest.approx(16 / 18), "iou": pytest.approx(0.8)}}


def test_per_case_means_skip_groups_with_nothing_to_score():
    scores = GroupedScores()
    scores.update(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), [0])
    assert math.isnan(scores.mean("iou"))
    scores.update(np.ones((1, 2, 2)), np.ones((1, 2, 2)), [1])
    assert scores.mean("iou") == 1.0


def test_mismatched_shapes_raise_with_both_shapes_in_the_message():
    with pytest.raises(CoinError, match=r"\(2, 4, 4\).*\(2, 4, 5\)"):
        iou(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(CoinError, match="groups has 3 entries"):
        GroupedScores().update(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), [0, 1, 2])


def test_counterfactual_validity_on_a_hand_built_probability_list():
    p = [0.95, 0.9, 0.85, 0.5, 0.1, 0.99]
    p_cf = [0.05, 0.5, 0.01, 0.0, 0.9, 0.1]
    # confident positives (p > 0.8): 0.95, 0.9, 0.85, 0.99
    # flips |p - p_cf| > 0.8: 0.90 yes, 0.40 no, 0.84 yes, 0.89 yes
    cv, n = counterfactual_validity(p, p_cf)
    assert n == 4
    assert cv == pytest.approx(0.75)
    cv, n = counterfactual_validity([0.1, 0.2], [0.0, 0.0])
    assert n == 0 and math.isnan(cv)
    with pytest.raises(CoinError, match="differ in length"):
        counterfactual_validity([0.9], [0.1, 0.2])


def test_frechet_distance_of_identical_sets_is_zero():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(200, 8))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_from_stats_matches_the_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # |Δμ|² = 1 + 0 + 4 = 5; Σ(σ1 - σ2)² = (1-2)² + (2-1)² + (3-1)² = 6
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(11.0, abs=1e-9)


def test_frechet_distance_of_shifted_gaussian_samples_approaches_the_shift_squared():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4)) + np.array([1.0, 0.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0, rel=0.03)


def test_streaming_feature_stats_equal_the_one_shot_mean_and_covariance():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(50, 3)) * [1.0, 2.0, 3.0]
    st = FeatureStats()
    for chunk in np.array_split(feats, 4):
        st.update(chunk)
    mu, cov = st.mean_cov()
    np.testing.assert_allclose(mu, feats.mean(0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(feats, rowvar=False), atol=1e-10)
    with pytest.raises(CoinError, match=r"\(N, D\)"):
        st.update(np.zeros(3))
    with pytest.raises(CoinError, match="at least 2"):
        FeatureStats().mean_cov()
