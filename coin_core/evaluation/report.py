"""Write evaluation results: ``results.json`` (the full dictionary) and ``results.md`` (a table).

``results.json`` (format ``coin-evaluation/2``)::

    {"format", "bench", "split", "val_split", "n_slices", "n_scored_slices", "n_normal_slices",
     "n_source_slices", "input_size", "label", "settings": {...}, "bootstrap": {...},
     "speckle": {...}, "feature_distance": "...", "model": path, "singla_model": path | null,
     "compare_models": {label: path}, "software": {"coin": version, "torch": version},
     "machine": {...}, "paper_columns": bool, "paper_columns_why": "...",
     "methods": {key: {"kind": "counterfactual" | "attribution" | "baseline",
                       "method", "label", "input_size", "model" (compared rows),
                       "threshold", "margin_mm", "val_micro_iou", "n_val_slices", "sweep": {...},
                       "micro_iou", "micro_iou_ci", "micro_dice",
                       "micro_iou_with_normals", "micro_iou_with_normals_ci", "micro_dice_with_normals",
                       "fp_pixels_on_normals", "normals_marked",
                       "mean_case_dice", "mean_case_iou", "mean_slice_dice", "mean_slice_iou",
                       "n_slices", "n_normal_slices", "per_case": {...},
                       "paper_threshold", "paper_postprocess", "paper_micro_iou",
                       "paper_micro_dice", "paper_mean_case_dice",
                       "speckle": {"normal_p99", "abnormal_p99", "half_threshold", "pass", ...},
                       "cv", "cv_ci", "cv_n", "cf_normal_rate", "fd_classifier", "fd_inception",
                       "beats_baselines": {"paper_protocol", "with_normals", "both"},
                       "seconds"}}}

Keys: the method names for the main model's rows ("coin", "singla", "rise", ...), ``coin@LABEL``
for every compared COIN model, ``host_organ`` and ``gated_host_organ`` for the baselines.
Intervals are ``[lo, hi]`` (95 %). NaN values are written as null. ``paper_columns``: whether the
BENCH is the kind of benchmark the paper's Table 1 row was measured on (synthetic bright blobs in an
organ; :mod:`coin_core.evaluation.paper_match`); the Markdown table has the paper's columns only then,
and otherwise says in a footnote why they are left out (``paper_columns_why``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from coin_core.evaluation.paper_match import PAPER_SOURCE, PAPER_TSM
from coin_core.fileutil import OutputSet

#: the table's last three columns, shown only where the BENCH matches the paper's benchmark
PAPER_HEADERS = ("paper IoU", "paper CV", "paper FID")

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


def _ci(value: Any, ci: Any) -> str:
    """``0.093 [0.05, 0.14]`` (value and 95 % interval); the value alone when there is no interval."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if not ci or any(v is None for v in ci):
        return _fmt(value)
    # bounds rounded outwards to 2 decimals, so the printed interval holds the printed value
    lo, hi = math.floor(ci[0] * 100 + 1e-9) / 100, math.ceil(ci[1] * 100 - 1e-9) / 100
    return f"{value:.3f} [{lo:.2f}, {hi:.2f}]"


def _beats(m: dict) -> str:
    if m.get("kind") == "baseline":
        return "(baseline)"
    b = m.get("beats_baselines")
    if not b:
        return "–"
    if b.get("both"):
        return "yes"
    if b.get("paper_protocol"):
        return "no (paper protocol only)"
    if b.get("with_normals"):
        return "no (normals-too column only)"
    return "no"


def _speckle(m: dict) -> str:
    sp = m.get("speckle")
    if not sp or sp.get("half_threshold") is None:
        return "–"
    mark = {True: "pass", False: "FAIL", None: "–"}[sp.get("pass")]
    return (
        f"{_fmt(sp.get('normal_p99'))} / {_fmt(sp.get('abnormal_p99'))} vs {sp['half_threshold']:.3f}: {mark}"
    )


def _label(key: str, m: dict) -> str:
    return str(m.get("label") or LABELS.get(key, key))


def _paper_note(results: dict) -> tuple[bool, str]:
    """Whether to print the paper's columns, and the sentence that says so (results without the key: no)."""
    show = results.get("paper_columns") is True
    why = str(
        results.get("paper_columns_why")
        or "the results do not record whether the BENCH matches the paper's benchmark"
    )
    if show:
        return True, f"Paper columns: {PAPER_SOURCE}; {why}."
    return False, f"The paper's columns ({PAPER_SOURCE}) are left out: {why}."


def markdown_table(results: dict) -> str:
    """The results as a Markdown table (one row per method or model).

    The paper's TotalSegmentator figures are the last three columns only when ``results["paper_columns"]``
    is true; otherwise a footnote says why they are left out.
    """
    boot = results.get("bootstrap", {})
    sp = results.get("speckle", {})
    show_paper, paper_note = _paper_note(results)
    headers = [
        "Method", "beats both baselines", "IoU, paper protocol", "IoU, normals too", "Dice, paper protocol",
        "Dice, normals too", "threshold + margin", "speckle p99 normal / abnormal vs threshold/2", "CV",
        "IoU @ paper thr.", "FD-classifier", *(PAPER_HEADERS if show_paper else ()),
    ]  # fmt: skip
    lines = [
        f"Split `{results.get('split')}` of `{results.get('bench')}`: {results.get('n_scored_slices')} "
        f"abnormal samples (paper protocol) and {results.get('n_normal_slices')} normal samples from "
        f"{results.get('n_source_slices')} source slices. Thresholds tuned on `{results.get('val_split')}` "
        f"(micro IoU over its abnormal samples), post-processing "
        f"`{results.get('settings', {}).get('postprocess')}` for every method. "
        f"[95 % intervals]: {boot.get('resamples')} bootstrap resamples of the source slices "
        f"(seed {boot.get('seed')}; a slice's lesion draws stay together).",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    for key, m in results.get("methods", {}).items():
        paper = PAPER_TSM.get(m.get("method", key), {}) if m.get("kind") != "baseline" else {}
        at_paper = (
            f"{_fmt(m.get('paper_micro_iou'))} (@{m.get('paper_threshold')}, {m.get('paper_postprocess')})"
            if m.get("paper_threshold") is not None
            else "–"
        )
        cells = [
            _label(key, m),
            _beats(m),
            _ci(m.get("micro_iou"), m.get("micro_iou_ci")),
            _ci(m.get("micro_iou_with_normals"), m.get("micro_iou_with_normals_ci")),
            _fmt(m.get("micro_dice")),
            _fmt(m.get("micro_dice_with_normals")),
            _threshold(m),
            _speckle(m),
            _ci(m.get("cv"), m.get("cv_ci")),
            at_paper,
            _fmt(m.get("fd_classifier"), 4),
        ]
        if show_paper:
            cells += [_fmt(paper.get("iou")), _fmt(paper.get("cv")), _fmt(paper.get("fid"))]
        lines.append("| " + " | ".join(cells) + " |")
    sizes = {m.get("input_size") for m in results.get("methods", {}).values() if m.get("input_size")}
    lines += [
        "",
        "IoU = micro IoU (ΣTP / (ΣTP + ΣFP + ΣFN) over all pixels of the scored samples). Paper protocol: "
        "the abnormal samples only, as in the paper; normals too: the normal samples are scored as well, "
        "every pixel marked on them is a false positive. Both columns use the threshold and mask margin "
        "tuned together on the validation split (the margin grows the cleaned mask in-plane by that many mm; "
        "0 mm = the paper's masks). Baselines: the host-organ mask on every sample, and the host-organ "
        "mask on the samples the classifier f calls abnormal (p >= 0.5); a method counts only where it "
        "beats both in both IoU columns. Speckle: the 99th percentile of the method's map "
        "(|x - x_cf| / 2, or the min-max normalised attribution map) over healthy body pixels "
        f"(outside the lesion mask dilated by {sp.get('lesion_margin_px', 3)} px, inside the body), "
        "on normal / abnormal samples; pass when "
        "both lie below half the tuned threshold. IoU @ paper thr.: this data scored at the paper's fixed "
        "thresholds (0.25 with its clean-up for counterfactuals, 0.975 for attribution maps). FD-classifier "
        "is a Fréchet distance on the frozen classifier's penultimate features between real and "
        "counterfactual slices of the whole split; it is not the paper's InceptionV3 FID and the two are "
        "not comparable. " + paper_note,
        "",
    ]
    if len(sizes) > 1:
        lines[-1:-1] = [
            "Rows are scored at their model's input size ("
            + ", ".join(str(s) for s in sorted(sizes))
            + " px; ground truth resampled to it); the baselines at the main model's.",
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


def _threshold(m: dict[str, Any]) -> str:
    """The tuned threshold and the mask margin tuned with it ("0.080 + 3 mm")."""
    thr = m.get("threshold")
    if thr is None:
        return "–"
    margin = m.get("margin_mm")
    return _fmt(thr) if margin is None else f"{_fmt(thr)} + {float(margin):g} mm"
