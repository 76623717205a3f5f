"""Write evaluation results: ``results.json`` (the full dictionary) and ``results.md`` (a table).

``results.json`` (format ``coin-evaluation/1``)::

    {"format", "bench", "split", "val_split", "n_slices", "n_scored_slices", "input_size",
     "settings": {...}, "feature_distance": "...", "model": path, "singla_model": path | null,
     "software": {"coin": version, "torch": version}, "machine": {...},
     "methods": {name: {"kind": "counterfactual" | "attribution",
                        "threshold", "val_micro_iou", "n_val_slices", "sweep": {...},
                        "micro_iou", "micro_dice", "mean_case_dice", "mean_case_iou",
                        "mean_slice_dice", "mean_slice_iou", "n_slices", "per_case": {...},
                        "paper_threshold", "paper_postprocess", "paper_micro_iou",
                        "paper_micro_dice", "paper_mean_case_dice",
                        "cv", "cv_n", "cf_normal_rate", "fd_classifier", "fd_inception",
                        "seconds"}}}

NaN values are written as null.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from coin_core.fileutil import OutputSet

# docs/method.md §10, Table 1, TotalSegmentator (synthetic) row: IoU and, where reported, CV and FID.
PAPER_TSM = {
    "scorecam": {"iou": 0.030},
    "layercam": {"iou": 0.026},
    "rise": {"iou": 0.397},
    "singla": {"iou": 0.445, "cv": 0.998, "fid": 0.047},
    "coin": {"iou": 0.646, "cv": 0.997, "fid": 0.003},
}

LABELS = {
    "coin": "COIN",
    "singla": "Singla et al.*",
    "rise": "RISE",
    "scorecam": "ScoreCAM",
    "layercam": "LayerCAM",
    "gradcam": "Grad-CAM",
}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _clean(value.item())
    return value


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(results: dict) -> str:
    """The results as a Markdown table (one row per method) with the paper's TSM figures."""
    lines = [
        f"Split `{results.get('split')}` of `{results.get('bench')}`: {results.get('n_scored_slices')} "
        f"abnormal slices scored, thresholds tuned on `{results.get('val_split')}` (micro IoU), "
        f"post-processing `{results.get('settings', {}).get('postprocess')}` for every method.",
        "",
        "| Method | IoU (tuned) | threshold | Dice (tuned) | mean case Dice | mean slice IoU "
        "| IoU @ paper thr. | CV | FD-classifier | paper IoU | paper CV | paper FID |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results.get("methods", {}).items():
        paper = PAPER_TSM.get(name, {})
        lines.append(
            "| "
            + " | ".join(
                [
                    LABELS.get(name, name),
                    _fmt(m.get("micro_iou")),
                    _fmt(m.get("threshold")),
                    _fmt(m.get("micro_dice")),
                    _fmt(m.get("mean_case_dice")),
                    _fmt(m.get("mean_slice_iou")),
                    f"{_fmt(m.get('paper_micro_iou'))} "
                    f"(@{m.get('paper_threshold')}, {m.get('paper_postprocess')})",
                    _fmt(m.get("cv")),
                    _fmt(m.get("fd_classifier"), 4),
                    _fmt(paper.get("iou")),
                    _fmt(paper.get("cv")),
                    _fmt(paper.get("fid")),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "IoU = micro IoU (ΣTP / (ΣTP + ΣFP + ΣFN) over all pixels of the scored slices), as in the paper. "
        "FD-classifier is a Fréchet distance on the frozen classifier's penultimate features between real "
        "and counterfactual slices of the whole split; it is not the paper's InceptionV3 FID and the two "
        "are not comparable. Paper columns: Shvetsov et al. 2024, Table 1, TotalSegmentator (synthetic).",
        "",
    ]
    return "\n".join(lines)


def write_results(results: dict, out_dir: str | Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``out_dir/results.json`` and ``out_dir/results.md`` atomically; return both paths."""
    out = Path(out_dir)
    js, md = out / "results.json", out / "results.md"
    clean = _clean(results)
    with OutputSet([js, md], overwrite=overwrite) as group:
        group.tmp(js).write_text(json.dumps(clean, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        group.tmp(md).write_text(markdown_table(clean), encoding="utf-8")
    return js, md
