"""Per-sample pixel counts of one row of the table, and every figure the table derives from them.

Two protocols are scored from the same counts:

* **paper protocol** (``micro_iou``, ``micro_dice``): TP/FP/FN summed over the GT-abnormal samples
  with pixel ground truth, as in the paper;
* **normals too** (``micro_iou_with_normals``, ``micro_dice_with_normals``): the normal samples of
  the split are added; every pixel a method marks on a normal sample is a false positive.

Intervals resample source slices (:mod:`coin_core.evaluation.bootstrap`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coin_core.evaluation.bootstrap import RESAMPLES, SEED, ratio_interval
from coin_core.evaluation.metrics import dice_from_counts, iou_from_counts


class SampleScores:
    """TP/FP/FN per scored sample (tuned threshold, and optionally the paper's fixed one)."""

    def __init__(self, n_clusters: int, resamples: int = RESAMPLES, seed: int = SEED) -> None:
        self.n_clusters = n_clusters
        self.resamples, self.seed = resamples, seed
        self._label: list[np.ndarray] = []
        self._case: list[np.ndarray] = []
        self._cluster: list[np.ndarray] = []
        self._tuned: list[np.ndarray] = []
        self._paper: list[np.ndarray] = []

    def update(
        self, tuned: np.ndarray, label: Any, case: Any, cluster: Any, paper: np.ndarray | None = None
    ) -> None:
        """Add ``(N, 3)`` counts at the tuned threshold (and at the paper's) with labels, cases, clusters.

        Either every update passes ``paper`` or none does; the paper-threshold figures use its
        abnormal samples only (the paper's protocol).
        """
        self._tuned.append(np.asarray(tuned, np.int64).reshape(-1, 3))
        self._label.append(np.asarray(label).reshape(-1))
        self._case.append(np.asarray(case).reshape(-1))
        self._cluster.append(np.asarray(cluster).reshape(-1))
        if paper is not None:
            self._paper.append(np.asarray(paper, np.int64).reshape(-1, 3))

    def _cat(self, parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(shape, np.int64)

    def to_dict(self) -> dict[str, Any]:
        tuned = self._cat(self._tuned, (0, 3))
        label = self._cat(self._label, (0,))
        case = self._cat(self._case, (0,))
        cluster = self._cat(self._cluster, (0,))
        ab = label == 1
        out: dict[str, Any] = {}
        for suffix, sel in (("", ab), ("_with_normals", np.ones_like(ab))):
            c = tuned[sel]
            total = c.sum(0).tolist() if c.size else [0, 0, 0]
            out[f"tp_fp_fn{suffix}"] = [int(v) for v in total]
            out[f"micro_iou{suffix}"] = iou_from_counts(*total)
            out[f"micro_dice{suffix}"] = dice_from_counts(*total)
            out[f"micro_iou{suffix}_ci"] = ratio_interval(
                c[:, 0], c.sum(1), cluster[sel], self.n_clusters, self.resamples, self.seed
            )
        out["fp_pixels_on_normals"] = int(tuned[~ab, 1].sum())
        out["normals_marked"] = int(np.count_nonzero(tuned[~ab, 1]))
        cases = _grouped(tuned[ab], case[ab])
        slices = [_pair(row) for row in tuned[ab]]
        out.update(
            mean_case_dice=_mean([v["dice"] for v in cases.values()]),
            mean_case_iou=_mean([v["iou"] for v in cases.values()]),
            mean_slice_dice=_mean([d for d, _ in slices]),
            mean_slice_iou=_mean([i for _, i in slices]),
            n_slices=int(ab.sum()),
            n_normal_slices=int((~ab).sum()),
            per_case={str(k): v for k, v in cases.items()},
        )
        if self._paper:
            paper = self._cat(self._paper, (0, 3))[ab]
            total = paper.sum(0).tolist() if paper.size else [0, 0, 0]
            out.update(
                paper_micro_iou=iou_from_counts(*total),
                paper_micro_dice=dice_from_counts(*total),
                paper_mean_case_dice=_mean([v["dice"] for v in _grouped(paper, case[ab]).values()]),
            )
        return out


def _pair(counts: np.ndarray) -> tuple[float, float]:
    c = counts.tolist()
    return dice_from_counts(*c), iou_from_counts(*c)


def _grouped(counts: np.ndarray, groups: np.ndarray) -> dict[int, dict[str, float]]:
    out = {}
    for g in sorted(set(groups.tolist())):
        d, i = _pair(counts[groups == g].sum(0))
        out[int(g)] = {"dice": d, "iou": i}
    return out


def _mean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def cv_interval(
    p: np.ndarray,
    p_cf: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    tau: float,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> list[float] | None:
    """Bootstrap interval of CV: flips among confident positives (p > tau), resampling source slices."""
    conf = np.asarray(p) > tau
    flips = (np.abs(np.asarray(p) - np.asarray(p_cf)) > tau) & conf
    return ratio_interval(flips[conf], np.ones(int(conf.sum())), cluster[conf], n_clusters, resamples, seed)
