"""Val-only comparison of finished model folders in one frame (for choosing a recipe; never the test split).

For each model: the threshold (and mask margin, ``--margins``; ``coin evaluate``'s grid by default,
``--margins 0`` for the paper's masks) that maximises the micro IoU over the val split's abnormal samples
(``coin evaluate``'s own tuning routine), that IoU, the IoU at the same threshold with the normal val
samples counted too, and the counterfactual validity on val; then the two baselines that know nothing
about lesions (the host organ on every abnormal sample, and where the first model's classifier says
abnormal), scored on the same val samples. Every model is scored in the frame of
the first one (its input size over the whole slice); a model with a host-organ box has its maps
pasted back into that frame first (docs/recipes.md, "Host-organ box"), as in ``coin evaluate``.

    .venv/bin/python benchmarks/val_compare.py --data BENCH [--margins 0,1,2] MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse

import torch

from coin_core.evaluation.evaluate import (
    EvaluationSettings,
    _load_split,
    _Method,
    _score,
    _score_baselines,
    _tune,
)
from coin_core.evaluation.thresholds import MARGIN_GRID_MM
from coin_core.modelfile import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    grid = ",".join(f"{m:g}" for m in MARGIN_GRID_MM)
    ap.add_argument("--margins", default=grid, help=f"mask margins in mm, comma-separated ({grid})")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    margins = tuple(float(v) for v in args.margins.split(","))
    s = EvaluationSettings(methods=("coin",), bootstrap_resamples=1, margins=margins)  # point figures only
    models = [load_model(m, device="cpu") for m in args.models]
    frame = int(models[0].card.input_size)
    print(
        f"val split of {args.data}, frame {frame} px; threshold and margin (grid {args.margins} mm) tuned "
        "on val (paper post-processing)"
    )
    head = "model | box | threshold + margin | val IoU, paper protocol | val IoU, normals too | val CV"
    head += " | TP/FP/FN px"
    print(f"| {head} |")
    print("|---|---|---|---|---|---|---|")
    for folder, model in zip(args.models, models, strict=True):
        split = _load_split(args.data, "val", frame, model)
        method = _Method("coin", model, None, s, None)
        tuned = _tune(method, split, s, None, None)
        sc = _score(method, split, tuned, s, None, None)
        crop = model.card.input_crop
        box = "–" if crop is None else f"{crop.size_mm[0]:g} x {crop.size_mm[1]:g} mm"
        print(
            f"| {folder} | {box} | {tuned['threshold']:.3f} + {tuned['margin_mm']:g} mm | "
            f"{tuned['val_micro_iou']:.3f} | "
            f"{sc['micro_iou_with_normals']:.3f} | {sc['cv']:.3f} ({sc['cv_n']}) | "
            f"{' / '.join(map(str, sc['tp_fp_fn']))} |"
        )
    split = _load_split(args.data, "val", frame, models[0])
    for row in _score_baselines(models[0], split, s, None, None).values():
        counts = " / ".join(map(str, row.get("tp_fp_fn") or ["–"]))
        print(
            f"| {row['label']} | – | – | {row['micro_iou']:.3f} | {row['micro_iou_with_normals']:.3f} | – "
            f"| {counts} |"
        )


if __name__ == "__main__":
    from coin_core.errors import CoinError

    try:
        main()
    except CoinError as err:  # a wrong path or folder: the message, not a traceback
        raise SystemExit(f"val_compare: error: {err}") from None
