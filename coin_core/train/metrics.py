"""Training-time metrics in plain NumPy: rank-based ROC AUC and counterfactual validity."""

from __future__ import annotations

import numpy as np

CV_TAU = 0.8
"""docs/method.md §8.3: confident positives have p > 0.8; a flip needs |p - p_cf| > 0.8."""


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties getting their mean rank.

    Args:
        labels: (N,) 0/1 ground truth.
        scores: (N,) higher = more likely positive.

    Returns:
        The AUC in [0, 1], or NaN when one class is absent.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must have the same length, got {labels.shape} and {scores.shape}"
        )
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # mean rank (1-based) of each run of tied scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def counterfactual_validity(p: np.ndarray, p_cf: np.ndarray, tau: float = CV_TAU) -> float:
    """Share of confident positives (p > tau) whose probability moves by more than tau.

    The evaluation's definition (:func:`coin_core.evaluation.metrics.counterfactual_validity`);
    returns NaN when there is no confident positive.
    """
    from coin_core.evaluation.metrics import counterfactual_validity as validity

    return validity(p, p_cf, tau)[0]
