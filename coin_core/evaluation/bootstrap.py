"""Percentile bootstrap intervals that resample source slices, not samples.

A prepared slice set draws several lesions into the same source slice (``case``, ``slice_index``);
those samples share their anatomy and are not independent. The intervals therefore resample the
source slices with replacement and keep every slice's draws together (a cluster bootstrap). A
ratio metric (micro IoU = ΣTP / Σ(TP+FP+FN), CV = Σflips / Σconfident) is recomputed on each
resample from the summed numerators and denominators; resamples whose denominator is zero are
dropped. The same seed gives every method the same resamples, so rows are compared on paired draws.

With few source slices (the kidney benchmark's test split has 4) the intervals are coarse and
honest about it: they show how much the figure depends on which slices happened to be held out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coin_core.errors import CoinError

#: defaults of every interval in the table
RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


def source_slices(case: Any, slice_index: Any) -> np.ndarray:
    """Cluster ids ``(N,)`` (0..K-1): samples with the same (case, slice_index) share an id."""
    pairs = np.stack([np.asarray(case).reshape(-1), np.asarray(slice_index).reshape(-1)], axis=1)
    if pairs.shape[0] == 0:
        return np.zeros(0, np.int64)
    _, ids = np.unique(pairs, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def resample_weights(n_clusters: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``(resamples, n_clusters)`` int64: how often each cluster is drawn in each resample."""
    if n_clusters < 1:
        return np.zeros((resamples, 0), np.int64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(resamples, n_clusters))
    return np.stack([np.bincount(d, minlength=n_clusters) for d in draws]).astype(np.int64)


def ratio_interval(
    numerator: Any,
    denominator: Any,
    clusters: Any,
    n_clusters: int | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> list[float] | None:
    """Percentile interval ``[lo, hi]`` of Σnumerator / Σdenominator under the cluster bootstrap.

    Args:
        numerator, denominator: per-sample values ``(N,)``.
        clusters: per-sample cluster ids ``(N,)`` in ``0..n_clusters-1``.
        n_clusters: number of clusters to resample (default: ``max(clusters) + 1``). Pass the
            split's count when some clusters have no sample here: they are drawn too and add zero.
        resamples, seed, level: the bootstrap's size, seed and coverage.

    Returns:
        ``[lo, hi]``, or None when there is nothing to resample.
    """
    num = np.asarray(numerator, np.float64).reshape(-1)
    den = np.asarray(denominator, np.float64).reshape(-1)
    cl = np.asarray(clusters, np.int64).reshape(-1)
    if not (num.shape == den.shape == cl.shape):
        raise CoinError(f"Bootstrap inputs differ in length: {num.shape}, {den.shape}, {cl.shape}.")
    if not 0.0 < level < 1.0:
        raise CoinError(f"The interval level must lie in (0, 1); got {level}.")
    if cl.size == 0:
        return None
    k = int(cl.max()) + 1 if n_clusters is None else int(n_clusters)
    w = resample_weights(k, resamples, seed)
    nsum = w @ np.bincount(cl, weights=num, minlength=k)
    dsum = w @ np.bincount(cl, weights=den, minlength=k)
    ok = dsum > 0
    if not ok.any():
        return None
    stats = nsum[ok] / dsum[ok]
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(stats, [tail, 100.0 - tail])
    return [float(lo), float(hi)]
