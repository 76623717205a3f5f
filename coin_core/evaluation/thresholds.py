"""Thresholds: the paper's fixed ones and a grid search on the validation split.

Maps are in [0, 1]: COIN / Singla difference maps ``|x - x_cf|`` in [0, 1] intensity units, and
attribution maps min-max normalised per image. A threshold is chosen for each method on the
validation split by maximising the micro IoU over the GT-abnormal slices, with the same
post-processing policy that the test split will use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.evaluation.metrics import as_numpy, iou_from_counts, per_slice_counts
from coin_core.infer.postprocess import DEFAULT_POSTPROCESS, DEFAULT_THRESHOLD

# docs/method.md §8.1 (COIN: 0.25 on |x - x_cf| in [0, 1], paper post-processing) and §8.5
# (attributions: 0.975 on per-image min-max maps, no post-processing).
PAPER_COUNTERFACTUAL = (DEFAULT_THRESHOLD, DEFAULT_POSTPROCESS)
PAPER_ATTRIBUTION = (0.975, "none")

POSTPROCESS_CHOICES = ("paper", "none")


def default_grid() -> np.ndarray:
    """0.02 ... 0.94 in steps of 0.02, then 0.95 ... 0.995 in steps of 0.005 (57 values)."""
    coarse = np.arange(0.02, 0.95, 0.02)
    fine = np.arange(0.95, 0.9951, 0.005)
    return np.round(np.concatenate([coarse, fine]), 4)


def binarize(maps: Any, threshold: float, postprocess: str = "none") -> np.ndarray:
    """Threshold ``maps`` ``(N, S, S)`` (or ``(S, S)``) at ``> threshold`` and post-process per slice.

    ``postprocess="paper"`` is the paper's per-slice opening 3x3, closing 3x3 and largest
    component, done by :func:`coin_core.infer.postprocess.threshold_difference` so that evaluation
    and ``coin segment`` share one implementation. Returns uint8 masks of the input's shape.
    """
    m = as_numpy(maps)
    if m.ndim not in (2, 3):
        raise CoinError(f"Maps must have shape (N, S, S) or (S, S); got {m.shape}.")
    if postprocess not in POSTPROCESS_CHOICES:
        raise CoinError(
            f"Unknown post-processing '{postprocess}' for evaluation.",
            f"use one of {', '.join(POSTPROCESS_CHOICES)} (slices of a BENCH split are not neighbours, "
            "so the 3D option does not apply).",
        )
    if postprocess == "none":
        return (m > threshold).astype(np.uint8)
    from coin_core.infer.postprocess import threshold_difference

    stack = m[None] if m.ndim == 2 else m
    out = np.asarray(threshold_difference(stack.astype(np.float32), float(threshold), "paper"))
    out = out.astype(np.uint8)
    return out[0] if m.ndim == 2 else out


@dataclass
class SweepResult:
    """The grid, its micro IoUs, and the best threshold (the smallest one on ties)."""

    thresholds: list[float]
    ious: list[float]
    best_threshold: float
    best_iou: float


class ThresholdSweep:
    """Accumulate TP/FP/FN for every threshold of a grid over batches of maps.

    Args:
        thresholds: grid of candidate thresholds (defaults to :func:`default_grid`).
        postprocess: "paper" or "none", applied after every threshold.
    """

    def __init__(self, thresholds: Any = None, postprocess: str = "none") -> None:
        grid = default_grid() if thresholds is None else np.asarray(thresholds, np.float64).reshape(-1)
        if grid.size == 0:
            raise CoinError("The threshold grid is empty.")
        self.thresholds = grid
        self.postprocess = postprocess
        self.counts = np.zeros((grid.size, 3), np.int64)
        self.n_slices = 0

    def update(self, maps: Any, target: Any) -> None:
        """Add maps ``(N, S, S)`` in [0, 1] and their ground-truth masks ``(N, S, S)``."""
        m = as_numpy(maps)
        t = as_numpy(target)
        if m.shape != t.shape:
            raise CoinError(f"Maps {m.shape} and ground-truth masks {t.shape} differ in shape.")
        for i, thr in enumerate(self.thresholds):
            pred = binarize(m, float(thr), self.postprocess)
            self.counts[i] += per_slice_counts(pred, t).sum(0)
        self.n_slices += m.shape[0] if m.ndim == 3 else 1

    def result(self) -> SweepResult:
        ious = [iou_from_counts(*c.tolist()) for c in self.counts]
        scores = np.nan_to_num(np.asarray(ious), nan=-1.0)
        best = int(np.argmax(scores))
        return SweepResult(
            thresholds=[float(t) for t in self.thresholds],
            ious=[float(v) for v in ious],
            best_threshold=float(self.thresholds[best]),
            best_iou=float(ious[best]),
        )
