"""The ceiling of any difference-map method on a synthetic-lesion benchmark: the perfect counterfactual.

A synthetic benchmark stores, for every abnormal sample, normal samples of the same source slice
(the same slice without a lesion: every normal draw of a slice is the same image, which this script
checks). The difference between the two is the change a perfect counterfactual would make, so
thresholding it, with ``coin evaluate``'s own grid, post-processing and frame, gives the highest micro
IoU that |x - x_cf| thresholding can reach on that benchmark: the lesion's soft edge and the resampling
to the frame cost the rest. The threshold is tuned on val and applied to test, as for every row of the
table; the best test threshold is printed too, marked as such (a ceiling, not a result).

    .venv/bin/python benchmarks/oracle_ceiling.py --data BENCH [--size 128]
"""

from __future__ import annotations

import argparse

import numpy as np

from coin_core.data.benchmark import load_split
from coin_core.evaluation.thresholds import ThresholdSweep, default_grid


def oracle_maps(bench: str, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(maps, lesion masks) of the abnormal samples with pixel truth: |x - clean twin| / 2."""
    a = load_split(bench, split, size=size)
    image = np.asarray(a.image, dtype=np.float32)
    lesion = np.asarray(a.lesion) > 0
    has_lesion = lesion.reshape(len(a.label), -1).any(1)
    maps, truth = [], []
    for i in np.flatnonzero((np.asarray(a.has_mask) > 0) & has_lesion):
        twins = np.flatnonzero((a.case == a.case[i]) & (a.slice_index == a.slice_index[i]) & ~has_lesion)
        if twins.size == 0:
            raise SystemExit(f"oracle_ceiling: {split} sample {i} has no normal twin of its source slice.")
        if any(np.abs(image[t] - image[twins[0]]).max() > 0 for t in twins[1:]):
            raise SystemExit(f"oracle_ceiling: the normal draws of {split} slice {a.slice_index[i]} differ.")
        maps.append(np.abs(image[i] - image[twins[0]]) * 0.5)
        truth.append(lesion[i])
    return np.stack(maps), np.stack(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a synthetic-lesion BENCH folder")
    ap.add_argument("--size", type=int, default=128, help="the scoring frame in pixels (the table's: 128)")
    args = ap.parse_args()
    print(f"{args.data}, frame {args.size} px, coin evaluate's threshold grid")
    print("| post-processing | val threshold | val IoU | test IoU at the val threshold |"
          " best test threshold (ceiling) |")  # fmt: skip
    print("|---|---|---|---|---|")
    val, test = oracle_maps(args.data, "val", args.size), oracle_maps(args.data, "test", args.size)
    for post in ("paper", "none"):
        tuned = ThresholdSweep(default_grid(), post)
        tuned.update(*val)
        v = tuned.result()
        scored = ThresholdSweep(default_grid(), post)
        scored.update(*test)
        t = scored.result()
        at_val = t.ious[list(t.thresholds).index(v.best_threshold)]
        print(f"| {post} | {v.best_threshold:.3f} | {v.best_iou:.3f} | {at_val:.3f} | "
              f"{t.best_threshold:.3f}: {t.best_iou:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
