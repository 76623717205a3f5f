"""Val-only comparison of finished model folders in one frame (for choosing a recipe; never the test split).

For each model: the threshold that maximises the micro IoU over the val split's abnormal samples
(``coin evaluate``'s own tuning routine), that IoU, the IoU at the same threshold with the normal val
samples counted too, and the counterfactual validity on val. Every model is scored in the frame of
the first one (its input size over the whole slice); a model with a host-organ box has its maps
pasted back into that frame first (docs/recipes.md, "Host-organ box"), as in ``coin evaluate``.

    .venv/bin/python benchmarks/val_compare.py --data BENCH MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from coin_core.evaluation.evaluate import EvaluationSettings, _load_split, _Method, _tune
from coin_core.evaluation.metrics import counterfactual_validity, per_slice_counts
from coin_core.evaluation.thresholds import binarize
from coin_core.modelfile import load_model


def _scores(method: _Method, split, threshold: float, s: EvaluationSettings) -> dict:  # noqa: ANN001
    a = split.arrays
    rows = np.arange(len(a.label))
    tp = fp = fn = 0
    tp_all = fp_all = fn_all = 0
    p, pcf = [], []
    for i in range(0, rows.size, 16):
        b = rows[i : i + 16]
        x = torch.from_numpy(np.asarray(split.inputs.image[b], np.float32)[:, None])
        with torch.no_grad():
            x_cf = method.counterfactual(x)
            p.append(method.cf_model.probability(x).float().numpy().reshape(-1))
            pcf.append(method.cf_model.probability(x_cf).float().numpy().reshape(-1))
        maps = split.to_frame(((x - x_cf).abs() / 2)[:, 0].numpy(), b)
        counts = per_slice_counts(binarize(maps, threshold, s.postprocess), np.asarray(a.lesion[b]))
        scored = (np.asarray(a.label[b]) == 1) & (np.asarray(a.has_mask[b]) == 1)
        tp += counts[scored, 0].sum()
        fp += counts[scored, 1].sum()
        fn += counts[scored, 2].sum()  # noqa: E702
        tp_all += counts[:, 0].sum()
        fp_all += counts[:, 1].sum()
        fn_all += counts[:, 2].sum()  # noqa: E702
    cv, n = counterfactual_validity(np.concatenate(p), np.concatenate(pcf), s.tau)
    return {
        "iou": tp / max(tp + fp + fn, 1),
        "iou_normals": tp_all / max(tp_all + fp_all + fn_all, 1),
        "cv": cv,
        "cv_n": n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = EvaluationSettings(methods=("coin",))
    models = [load_model(m, device="cpu") for m in args.models]
    frame = int(models[0].card.input_size)
    print(f"val split of {args.data}, frame {frame} px; threshold tuned on val (paper post-processing)")
    print("| model | box | threshold | val IoU, paper protocol | val IoU, normals too | val CV |")
    print("|---|---|---|---|---|---|")
    for folder, model in zip(args.models, models, strict=True):
        split = _load_split(args.data, "val", frame, model)
        method = _Method("coin", model, None, s, None)
        tuned = _tune(method, split, s, None, None)
        sc = _scores(method, split, tuned["threshold"], s)
        crop = model.card.input_crop
        box = "–" if crop is None else f"{crop.size_mm[0]:g} x {crop.size_mm[1]:g} mm"
        print(
            f"| {folder} | {box} | {tuned['threshold']:.3f} | {tuned['val_micro_iou']:.3f} | "
            f"{sc['iou_normals']:.3f} | {sc['cv']:.3f} ({sc['cv_n']}) |"
        )


if __name__ == "__main__":
    main()
