"""The ceiling of any difference-map method on a synthetic-lesion benchmark: the perfect counterfactual.

A synthetic benchmark stores, for every abnormal sample, normal samples of the same source slice
(the same slice without a lesion: every normal draw of a slice is the same image, which this script
checks). The difference between the two is the change a perfect counterfactual would make, so
thresholding it, with ``coin evaluate``'s own grid, post-processing and frame, gives the highest micro
IoU that |x - x_cf| thresholding can reach on that benchmark: the lesion's soft edge and the resampling
to the frame cost the rest. Each post-processing is scored without a mask margin (the paper's masks) and
with ``coin evaluate``'s margin grid, tuned on val with the threshold (docs/method.md §8.1). The
threshold is tuned on val and applied to test, as for every row of the
table; the best test threshold is printed too, marked as such (a ceiling, not a result).

    .venv/bin/python benchmarks/oracle_ceiling.py --data BENCH [--size 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from coin_core.data.benchmark import load_split, read_benchmark_json
from coin_core.evaluation.evaluate import frame_pixel_sizes
from coin_core.evaluation.thresholds import MARGIN_GRID_MM, ThresholdSweep, default_grid


def oracle_maps(bench: str, split: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(maps, lesion masks, pixel sizes) of the abnormal samples with pixel truth: |x - clean twin| / 2."""
    a = load_split(bench, split, size=size)
    known = (Path(bench) / "benchmark.json").is_file()  # a BENCH made in code may have none: no margin
    px = frame_pixel_sizes(read_benchmark_json(bench), a.case, size) if known else None
    image = np.asarray(a.image, dtype=np.float32)
    lesion = np.asarray(a.lesion) > 0
    has_lesion = lesion.reshape(len(a.label), -1).any(1)
    maps, truth, keep = [], [], []
    for i in np.flatnonzero((np.asarray(a.has_mask) > 0) & has_lesion):
        twins = np.flatnonzero((a.case == a.case[i]) & (a.slice_index == a.slice_index[i]) & ~has_lesion)
        if twins.size == 0:
            raise SystemExit(f"oracle_ceiling: {split} sample {i} has no normal twin of its source slice.")
        if any(np.abs(image[t] - image[twins[0]]).max() > 0 for t in twins[1:]):
            raise SystemExit(f"oracle_ceiling: the normal draws of {split} slice {a.slice_index[i]} differ.")
        maps.append(np.abs(image[i] - image[twins[0]]) * 0.5)
        truth.append(lesion[i])
        keep.append(i)
    return np.stack(maps), np.stack(truth), None if px is None else px[keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a synthetic-lesion BENCH folder")
    ap.add_argument("--size", type=int, default=128, help="the scoring frame in pixels (the table's: 128)")
    args = ap.parse_args()
    print(f"{args.data}, frame {args.size} px, coin evaluate's threshold grid")
    print("| post-processing | margins (mm) | val threshold + margin | val IoU | test IoU at the val choice |"
          " best test choice (ceiling) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    val, test = oracle_maps(args.data, "val", args.size), oracle_maps(args.data, "test", args.size)
    grids = [(0.0,)] + ([MARGIN_GRID_MM] if val[2] is not None and test[2] is not None else [])
    for post in ("paper", "none"):
        for margins in grids:
            tuned = ThresholdSweep(default_grid(), post, margins)
            tuned.update(*val)
            v = tuned.result()
            scored = ThresholdSweep(default_grid(), post, margins)
            scored.update(*test)
            t = scored.result()
            m = t.margins_mm.index(v.best_margin_mm)
            at_val = t.ious_by_margin[m][list(t.thresholds).index(v.best_threshold)]
            print(f"| {post} | {','.join(f'{x:g}' for x in margins)} | {v.best_threshold:.3f} + "
                  f"{v.best_margin_mm:g} | {v.best_iou:.3f} | {at_val:.3f} | {t.best_threshold:.3f} + "
                  f"{t.best_margin_mm:g}: {t.best_iou:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
