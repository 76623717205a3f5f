"""Where a model's missed lesion pixels come from, on a val split (never the test split).

Each abnormal sample with pixel truth falls in one of three groups, after the same thresholding and
post-processing as ``coin evaluate`` (the table's frame; a host-box model's maps pasted back):

* **not flipped**: the classifier still calls the counterfactual abnormal (p >= 0.5);
* **flipped, lesion unmarked**: flipped, but no marked pixel touches the lesion (the change went
  elsewhere, or was too faint to pass the threshold);
* **flipped, lesion partly marked**: some lesion pixels marked; its misses are the lesion's rim.

The table says how many samples and how many missed (FN) and extra (FP) pixels each group holds. The
threshold and mask margin are the model card's (tuned on val when the model was trained) unless
``--threshold`` / ``--margin-mm`` are given.

    .venv/bin/python benchmarks/val_misses.py --data BENCH MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse

import numpy as np

GROUPS = ("not flipped", "flipped, lesion unmarked", "flipped, lesion partly marked")


def miss_breakdown(pred: np.ndarray, truth: np.ndarray, flipped: np.ndarray) -> dict[str, dict[str, int]]:
    """Per group: samples, TP, FP, FN pixels. ``pred``/``truth`` (N, H, W) bool, ``flipped`` (N,) bool."""
    pred, truth, flipped = np.asarray(pred, bool), np.asarray(truth, bool), np.asarray(flipped, bool)
    if pred.shape != truth.shape or pred.ndim != 3 or flipped.shape != (pred.shape[0],):
        raise ValueError(f"shapes {pred.shape}, {truth.shape}, {flipped.shape} do not fit (N,H,W) and (N,)")
    tp = (pred & truth).sum((1, 2))
    fp = (pred & ~truth).sum((1, 2))
    fn = (~pred & truth).sum((1, 2))
    group = np.where(~flipped, 0, np.where(tp == 0, 1, 2))
    out = {}
    for g, name in enumerate(GROUPS):
        sel = group == g
        out[name] = {
            "samples": int(sel.sum()),
            "tp": int(tp[sel].sum()),
            "fp": int(fp[sel].sum()),
            "fn": int(fn[sel].sum()),
        }
    return out


def _model_masks(
    bench: str, folder: str, threshold: float | None, margin_mm: float | None = None
) -> tuple[np.ndarray, ...]:
    import torch

    from coin_core.evaluation.evaluate import _batch, _load_split
    from coin_core.evaluation.thresholds import binarize
    from coin_core.infer.postprocess import DEFAULT_POSTPROCESS
    from coin_core.modelfile import load_model
    from coin_core.models.conditioning import difference_map

    model = load_model(folder, device="cpu")
    thr = float(model.card.threshold if threshold is None else threshold)
    margin = float(model.card.margin_mm if margin_mm is None else margin_mm)
    split = _load_split(bench, "val", int(model.card.input_size), model)
    a = split.arrays
    rows = np.flatnonzero(split.scored & (np.asarray(a.label) == 1))
    preds, truths, flipped = [], [], []
    for start in range(0, rows.size, 16):
        b = rows[start : start + 16]
        x = _batch(split.inputs, b, "cpu")
        with torch.no_grad():
            x_cf = model.counterfactual(x).float().clamp(-1, 1)
            flipped.append(model.probability(x_cf).float().numpy() < 0.5)
        maps = split.to_frame(difference_map(x, x_cf)[:, 0].numpy(), b)
        px = None if split.pixel_mm is None else split.pixel_mm[b]
        preds.append(binarize(maps, thr, DEFAULT_POSTPROCESS, margin, px).astype(bool))
        truths.append(np.asarray(a.lesion[b]) > 0)
    return np.concatenate(preds), np.concatenate(truths), np.concatenate(flipped), thr, margin


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--margin-mm", type=float, default=None, help="mask margin in mm (the card's)")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"val split of {args.data}; abnormal samples with pixel truth; paper post-processing")
    print("| model | threshold + margin | group | samples | TP | FP | FN | share of all FN |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in args.models:
        pred, truth, flipped, thr, margin = _model_masks(args.data, folder, args.threshold, args.margin_mm)
        res = miss_breakdown(pred, truth, flipped)
        total_fn = max(1, sum(r["fn"] for r in res.values()))
        for name, r in res.items():
            print(
                f"| {folder} | {thr:.3f} + {margin:g} mm | {name} | {r['samples']} | {r['tp']} | {r['fp']} | "
                f"{r['fn']} | {r['fn'] / total_fn:.0%} |"
            )


if __name__ == "__main__":
    from coin_core.errors import CoinError

    try:
        main()
    except CoinError as err:  # a wrong path or folder: the message, not a traceback
        raise SystemExit(f"val_misses: error: {err}") from None
