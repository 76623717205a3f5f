"""Rank-based AUC and counterfactual validity against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coin_core.train.metrics import counterfactual_validity, roc_auc


def test_auc_of_hand_computed_cases():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0 and roc_auc([1, 0], [0.2, 0.9]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)  # ties count half
    assert math.isnan(roc_auc([1, 1], [0.3, 0.4]))


def test_auc_matches_the_pairwise_definition_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert roc_auc(y, s) == pytest.approx(pairs)


def test_counterfactual_validity_counts_confident_positives_that_flip():
    p = np.array([0.95, 0.9, 0.85, 0.5, 0.1])
    p_cf = np.array([0.05, 0.5, 0.01, 0.0, 0.9])
    assert counterfactual_validity(p, p_cf) == pytest.approx(2 / 3)
    assert math.isnan(counterfactual_validity(np.array([0.2]), np.array([0.1])))
