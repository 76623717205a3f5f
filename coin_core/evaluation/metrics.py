"""Segmentation and counterfactual metrics (docs/method.md §8.2, §8.3, §11.3).

Everything here is a pure function or a small accumulator on numpy arrays (torch tensors are
accepted and converted). Shapes:

* masks: ``(S, S)`` for one slice, ``(N, S, S)`` for a batch of slices, or any shape as long as
  prediction and ground truth match; values are treated as boolean (non-zero = lesion).
* probabilities: ``(N,)`` in [0, 1].

The paper's IoU is a *micro* IoU: TP, FP and FN summed over every pixel of every GT-abnormal slice,
then ``ΣTP / (ΣTP + ΣFP + ΣFN)``. Large lesions dominate it; the per-slice and per-case means
reported next to it weight every slice / case equally.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from coin_core.errors import CoinError


def as_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array (torch tensors are detached and moved to the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p = as_numpy(pred)
    t = as_numpy(target)
    if p.shape != t.shape:
        raise CoinError(
            f"Prediction and ground-truth masks differ in shape: prediction {p.shape}, "
            f"ground truth {t.shape}.",
            "pass masks of the same shape (slice, row, col).",
        )
    if p.ndim < 2:
        raise CoinError(f"Masks must be at least 2D (row, col); got shape {p.shape}.")
    return p != 0, t != 0


def confusion(pred: Any, target: Any) -> tuple[int, int, int]:
    """Return ``(TP, FP, FN)`` pixel counts of two boolean masks of the same shape."""
    p, t = _pair(pred, target)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return tp, fp, fn


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """IoU = TP / (TP + FP + FN); NaN when all three are zero (nothing to score)."""
    den = tp + fp + fn
    return float(tp) / den if den else math.nan


def dice_from_counts(tp: int, fp: int, fn: int) -> float:
    """Dice = 2 TP / (2 TP + FP + FN); NaN when all three are zero."""
    den = 2 * tp + fp + fn
    return 2.0 * tp / den if den else math.nan


def iou(pred: Any, target: Any) -> float:
    """IoU of two masks of any equal shape (pixels pooled)."""
    return iou_from_counts(*confusion(pred, target))


def dice(pred: Any, target: Any) -> float:
    """Dice of two masks of any equal shape (pixels pooled)."""
    return dice_from_counts(*confusion(pred, target))


def per_slice_counts(pred: Any, target: Any) -> np.ndarray:
    """Return ``(N, 3)`` int64 TP/FP/FN per slice for masks of shape ``(N, ...)``."""
    p, t = _pair(pred, target)
    if p.ndim < 3:
        p, t = p[None], t[None]
    axes = tuple(range(1, p.ndim))
    tp = np.count_nonzero(p & t, axis=axes)
    fp = np.count_nonzero(p & ~t, axis=axes)
    fn = np.count_nonzero(~p & t, axis=axes)
    return np.stack([tp, fp, fn], axis=1).astype(np.int64)


class MicroIoU:
    """Dataset-level (micro) IoU and Dice: TP/FP/FN summed over all pixels of all updates."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch of masks ``(N, S, S)`` (or a single ``(S, S)`` slice)."""
        tp, fp, fn = confusion(pred, target)
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def iou(self) -> float:
        return iou_from_counts(self.tp, self.fp, self.fn)

    def dice(self) -> float:
        return dice_from_counts(self.tp, self.fp, self.fn)


class GroupedScores:
    """Per-group Dice and IoU (groups = cases or single slices), then their unweighted mean.

    ``update(pred, target, groups)`` takes masks ``(N, S, S)`` and ``groups`` ``(N,)`` (e.g. the case
    index of every slice). Counts are pooled within a group, so a case's Dice is over all of its
    scored slices. Groups whose TP+FP+FN is zero are skipped in the mean.
    """

    def __init__(self) -> None:
        self.counts: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(3, np.int64))

    def update(self, pred: Any, target: Any, groups: Any) -> None:
        counts = per_slice_counts(pred, target)
        g = as_numpy(groups).reshape(-1)
        if g.shape[0] != counts.shape[0]:
            raise CoinError(
                f"groups has {g.shape[0]} entries but the masks hold {counts.shape[0]} slices "
                f"(masks shape {as_numpy(pred).shape})."
            )
        for key, row in zip(g.tolist(), counts, strict=True):
            self.counts[int(key)] += row

    def per_group(self) -> dict[int, dict[str, float]]:
        """``{group: {"dice": d, "iou": i}}`` for every group seen."""
        return {
            k: {"dice": dice_from_counts(*c.tolist()), "iou": iou_from_counts(*c.tolist())}
            for k, c in sorted(self.counts.items())
        }

    def mean(self, metric: str) -> float:
        """Unweighted mean of ``metric`` ("dice" or "iou") over groups; NaN when there are none."""
        vals = [v[metric] for v in self.per_group().values() if not math.isnan(v[metric])]
        return float(np.mean(vals)) if vals else math.nan


def counterfactual_validity(p: Any, p_cf: Any, tau: float = 0.8) -> tuple[float, int]:
    """CV (docs/method.md §8.3): share of confident positives (p > tau) with ``|p - p_cf| > tau``.

    Args:
        p: ``(N,)`` classifier probabilities of the real slices.
        p_cf: ``(N,)`` probabilities of their counterfactuals.
        tau: the confidence / flip margin (0.8 in the paper).

    Returns:
        ``(cv, n)``: the validity and the number of confident positives it is the mean over
        (``cv`` is NaN when ``n`` is 0).
    """
    a = as_numpy(p).astype(np.float64).reshape(-1)
    b = as_numpy(p_cf).astype(np.float64).reshape(-1)
    if a.shape != b.shape:
        raise CoinError(f"p and p_cf differ in length: {a.shape} vs {b.shape}.")
    if not 0.0 < tau < 1.0:
        raise CoinError(f"tau must lie in (0, 1); got {tau}.")
    sel = a > tau
    n = int(sel.sum())
    if n == 0:
        return math.nan, 0
    return float(np.mean(np.abs(a[sel] - b[sel]) > tau)), n


class FeatureStats:
    """Streaming mean and covariance of feature vectors ``(N, D)`` (float64 sums)."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def update(self, feats: Any) -> None:
        f = as_numpy(feats).astype(np.float64)
        if f.ndim != 2:
            raise CoinError(f"Features must have shape (N, D); got {f.shape}.")
        if self.sum is None:
            self.sum = np.zeros(f.shape[1])
            self.outer = np.zeros((f.shape[1], f.shape[1]))
        elif f.shape[1] != self.sum.shape[0]:
            raise CoinError(f"Feature width changed from {self.sum.shape[0]} to {f.shape[1]}.")
        self.n += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mu (D,), sigma (D, D))``, sigma with the unbiased (N-1) normalisation."""
        if self.n < 2 or self.sum is None or self.outer is None:
            raise CoinError(f"A Fréchet distance needs at least 2 feature vectors per set; got {self.n}.")
        mu = self.sum / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, cov


def frechet_distance_from_stats(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^½)``. The matrix square root uses the
    symmetric form ``(s1^½ s2 s1^½)^½`` (same trace, numerically stable through eigh).
    """
    m1, m2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != (m1.size, m1.size):
        raise CoinError(
            f"Fréchet statistics do not match: mu {m1.shape} / {m2.shape}, sigma {s1.shape} / {s2.shape}."
        )

    def _sqrt_psd(a: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh((a + a.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    r1 = _sqrt_psd(s1)
    cross = _sqrt_psd(r1 @ s2 @ r1)
    diff = m1 - m2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(cross))
    return max(value, 0.0)


def frechet_distance(feats_a: Any, feats_b: Any) -> float:
    """Fréchet distance between two feature sets ``(N, D)`` and ``(M, D)``."""
    a, b = FeatureStats(), FeatureStats()
    a.update(feats_a)
    b.update(feats_b)
    return frechet_distance_from_stats(*a.mean_cov(), *b.mean_cov())
