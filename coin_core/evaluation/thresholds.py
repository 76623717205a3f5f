"""Thresholds: the paper's fixed ones and a grid search on the validation split.

Maps are in [0, 1]: COIN / Singla difference maps ``|x - x_cf|`` in [0, 1] intensity units, and
attribution maps min-max normalised per image. A threshold is chosen for each method on the
validation split by maximising the micro IoU over the GT-abnormal slices, with the same
post-processing policy that the test split will use. With a margin grid, the mask margin
(:func:`coin_core.infer.postprocess.grow_mask`) is chosen jointly with the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.evaluation.metrics import as_numpy, iou_from_counts, per_slice_counts
from coin_core.infer.postprocess import (
    DEFAULT_MARGIN_MM,
    DEFAULT_POSTPROCESS,
    DEFAULT_THRESHOLD,
    check_margin,
    grow_mask,
    margin_distances,
    within_margin,
)

# docs/method.md §8.1 (COIN: 0.25 on |x - x_cf| in [0, 1], paper post-processing) and §8.5
# (attributions: 0.975 on per-image min-max maps, no post-processing).
PAPER_COUNTERFACTUAL = (DEFAULT_THRESHOLD, DEFAULT_POSTPROCESS)
PAPER_ATTRIBUTION = (0.975, "none")

POSTPROCESS_CHOICES = ("paper", "none")
MARGIN_GRID_MM = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
"""The mask margins (mm) tuned jointly with the threshold when a split knows its pixel size."""


def default_grid() -> np.ndarray:
    """0.02 ... 0.94 in steps of 0.02, then 0.95 ... 0.995 in steps of 0.005 (57 values)."""
    coarse = np.arange(0.02, 0.95, 0.02)
    fine = np.arange(0.95, 0.9951, 0.005)
    return np.round(np.concatenate([coarse, fine]), 4)


def binarize(
    maps: Any,
    threshold: float,
    postprocess: str = "none",
    margin_mm: float = DEFAULT_MARGIN_MM,
    pixel_mm: Any = None,
) -> np.ndarray:
    """Threshold ``maps`` ``(N, S, S)`` (or ``(S, S)``) at ``> threshold``, post-process and grow per slice.

    ``postprocess="paper"`` is the paper's per-slice opening 3x3, closing 3x3 and largest
    component, done by :func:`coin_core.infer.postprocess.threshold_difference` so that evaluation
    and ``coin segment`` share one implementation; ``margin_mm`` then grows each mask in-plane
    (``pixel_mm``: one (row, column) pair in mm, or one per map). Returns uint8 masks of the input's shape.
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
    from coin_core.infer.postprocess import threshold_difference

    stack = m[None] if m.ndim == 2 else m
    margin = check_margin(margin_mm)
    if margin > 0 and pixel_mm is None:
        raise CoinError("A mask margin needs the maps' pixel size (pixel_mm).")
    if postprocess == "none":
        out = (stack > threshold).astype(np.uint8)
        out = grow_mask(out, margin, pixel_mm) if margin > 0 else out
    else:
        out = threshold_difference(stack.astype(np.float32), float(threshold), "paper", margin, pixel_mm)
        out = np.asarray(out).astype(np.uint8)
    return out[0] if m.ndim == 2 else out


@dataclass
class SweepResult:
    """The grid, its micro IoUs, and the best (threshold, margin).

    ``ious`` holds the IoUs at margin 0 (one per threshold), ``ious_by_margin`` one such list per
    margin of ``margins_mm``. Ties go to the smallest margin, then the smallest threshold.
    """

    thresholds: list[float]
    ious: list[float]
    best_threshold: float
    best_iou: float
    margins_mm: list[float]
    ious_by_margin: list[list[float]]
    best_margin_mm: float


def check_margins(margins: Any) -> np.ndarray:
    """A margin grid (mm) as a sorted float array with 0 first; raises :class:`CoinError` when invalid."""
    grid = np.asarray([check_margin(v) for v in np.asarray(margins, np.float64).reshape(-1)])
    if grid.size == 0:
        raise CoinError("The margin grid is empty.", "give at least 0 (no margin).")
    return np.unique(np.concatenate([[0.0], grid]))


class ThresholdSweep:
    """Accumulate TP/FP/FN for every (threshold, margin) of a grid over batches of maps.

    Args:
        thresholds: grid of candidate thresholds (defaults to :func:`default_grid`).
        postprocess: "paper" or "none", applied after every threshold.
        margins: candidate mask margins in mm (0 is always one of them; default: only 0).
    """

    def __init__(self, thresholds: Any = None, postprocess: str = "none", margins: Any = (0.0,)) -> None:
        grid = default_grid() if thresholds is None else np.asarray(thresholds, np.float64).reshape(-1)
        if grid.size == 0:
            raise CoinError("The threshold grid is empty.")
        self.thresholds = grid
        self.margins = check_margins(margins)
        self.postprocess = postprocess
        self.counts = np.zeros((self.margins.size, grid.size, 3), np.int64)
        self.n_slices = 0

    def update(self, maps: Any, target: Any, pixel_mm: Any = None) -> None:
        """Add maps ``(N, S, S)`` in [0, 1], their ground-truth masks ``(N, S, S)`` and pixel sizes.

        ``pixel_mm``: one (row, column) pair in mm or one per map; needed when the grid has a margin > 0.
        """
        m = as_numpy(maps)
        t = as_numpy(target)
        if m.shape != t.shape:
            raise CoinError(f"Maps {m.shape} and ground-truth masks {t.shape} differ in shape.")
        if m.ndim == 2:
            m, t = m[None], t[None]
        grown = self.margins[1:]
        if grown.size and pixel_mm is None:
            raise CoinError("A margin grid needs the maps' pixel size (pixel_mm).")
        for i, thr in enumerate(self.thresholds):
            pred = binarize(m, float(thr), self.postprocess).astype(bool)
            self.counts[0, i] += per_slice_counts(pred, t).sum(0)
            if not grown.size:
                continue
            dist = margin_distances(pred, pixel_mm)  # one distance map serves every margin
            for j, margin in enumerate(grown, 1):
                self.counts[j, i] += per_slice_counts(within_margin(dist, margin), t).sum(0)
        self.n_slices += m.shape[0]

    def result(self) -> SweepResult:
        ious = [[iou_from_counts(*c.tolist()) for c in row] for row in self.counts]
        scores = np.nan_to_num(np.asarray(ious, dtype=np.float64), nan=-1.0)
        # argmax over the flattened (margin, threshold) grid: the first maximum is the smallest
        # margin, then the smallest threshold
        j, i = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return SweepResult(
            thresholds=[float(t) for t in self.thresholds],
            ious=[float(v) for v in ious[0]],
            best_threshold=float(self.thresholds[i]),
            best_iou=float(ious[j][i]),
            margins_mm=[float(v) for v in self.margins],
            ious_by_margin=[[float(v) for v in row] for row in ious],
            best_margin_mm=float(self.margins[j]),
        )
