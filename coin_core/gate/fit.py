"""Fitting the anatomy gate of a model on the slice set it was trained on.

Statistics come from the ``train`` split, the scale and the threshold from ``val``, and the check
(how many validation slices, normal and abnormal, pass) is written into the card next to them.
Used at the end of ``coin train`` and by ``coin model fit-gate`` for an existing model folder.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.gate.features import stage_features
from coin_core.gate.stats import DEFAULT_LAYERS, DEFAULT_MARGIN, DEFAULT_QUANTILE, AnatomyGate, fit_gate
from coin_core.progress import ProgressCallback, ProgressEvent, report

STATISTIC = (
    "mean over the classifier stages of the Mahalanobis distance to the training slices "
    "(Ledoit-Wolf covariance), each divided by its median over val; docs/anatomy_gate.md"
)


def fit_on_arrays(
    classifier: Any,
    train: Any,
    val: Any,
    *,
    host: str | None,
    data: str,
    quantile: float = DEFAULT_QUANTILE,
    margin: float = DEFAULT_MARGIN,
    layers: tuple[str, ...] = DEFAULT_LAYERS,
) -> tuple[AnatomyGate, dict[str, Any]]:
    """Fit a gate on the train / val :class:`~coin_core.data.benchmark.SliceArrays` at the model's size.

    Returns:
        (the gate, the card details: host, data, quantile, margin and the validation check).
    """
    f_train = stage_features(classifier, train.image, layers)
    f_val = stage_features(classifier, val.image, layers)
    gate, val_scores = fit_gate(f_train, f_val, layers, quantile=quantile, margin=margin)
    passed = gate.passes(val_scores)
    labels = np.asarray(val.label).astype(bool)
    details = {
        "host": host,
        "data": data,
        "statistic": STATISTIC,
        "train_samples": len(train.label),
        "val_samples": len(val.label),
        "quantile": quantile,
        "margin": margin,
        "val_quantile_score": float(np.quantile(val_scores, quantile)),
        "check": {
            "split": "val",
            "normal_passed": int(passed[~labels].sum()),
            "normal": int((~labels).sum()),
            "abnormal_passed": int(passed[labels].sum()),
            "abnormal": int(labels.sum()),
            "max_score": float(val_scores.max()),
        },
        "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return gate, details


def fit_model_gate(
    model_dir: str | os.PathLike[str],
    bench: str | os.PathLike[str],
    *,
    quantile: float = DEFAULT_QUANTILE,
    margin: float = DEFAULT_MARGIN,
    overwrite: bool = False,
    device: str = "auto",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Fit the gate of the model in ``model_dir`` on the slice set ``bench`` and write it into the folder.

    Args:
        model_dir: a model folder (``coin train`` output or the bundled model).
        bench: the prepared slice set the model was trained on (its train and val splits are read).
        quantile, margin: the threshold rule (:func:`coin_core.gate.stats.fit_gate`).
        overwrite: replace a gate the card already holds; without it such a card is refused.
        device: where the classifier runs.
        progress: receives ``"gate"`` events.

    Returns:
        The card's new ``anatomy_gate`` section.
    """
    from coin_core.data.benchmark import load_split, read_benchmark_json
    from coin_core.modelfile import load_model

    model_dir = Path(model_dir)
    model = load_model(model_dir, device=device)
    old = model.card.anatomy_gate
    if old and not overwrite:
        raise CoinError(
            f"The model in {model_dir} already holds an anatomy gate (fitted "
            f"{old.get('fitted', '?')} on {old.get('data', '?')}).",
            "pass --overwrite to fit it again.",
        )
    meta = read_benchmark_json(bench)
    _check_window(meta, model.card.window.to_dict(), bench, model_dir)
    size = int(model.card.input_size)
    report(progress, ProgressEvent("gate", 0, 3, f"reading {bench}"))
    crop = model.card.input_crop
    if crop is None:
        train, val = load_split(bench, "train", size), load_split(bench, "val", size)
    else:  # the classifier of a host-box model sees the boxes (docs/recipes.md, "Host-organ box")
        from coin_core.data.crop import crop_arrays

        train = crop_arrays(load_split(bench, "train"), crop, meta, size)[0]
        val = crop_arrays(load_split(bench, "val"), crop, meta, size)[0]
    return fit_and_write(model_dir, bench, meta, model.classifier, train, val, quantile, margin, progress)


def fit_and_write(
    model_dir: str | os.PathLike[str],
    bench: str | os.PathLike[str],
    meta: dict[str, Any],
    classifier: Any,
    train: Any,
    val: Any,
    quantile: float = DEFAULT_QUANTILE,
    margin: float = DEFAULT_MARGIN,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Fit the gate on ``train`` / ``val`` (arrays at the model's size) and write it into ``model_dir``.

    Returns:
        The card's new ``anatomy_gate`` section.
    """
    from coin_core.gate.store import CARD_KEY, write_gate

    n = len(train.label) + len(val.label)
    report(progress, ProgressEvent("gate", 1, 3, f"anatomy gate: classifier features of {n} slices"))
    gate, details = fit_on_arrays(
        classifier,
        train,
        val,
        host=meta.get("host"),
        data=str(Path(bench).resolve()),
        quantile=quantile,
        margin=margin,
    )
    report(progress, ProgressEvent("gate", 2, 3, f"writing {Path(model_dir) / 'model.json'} ({CARD_KEY})"))
    section = write_gate(model_dir, gate, details)
    check = section["check"]
    normal, abnormal = (f"{check[k + '_passed']}/{check[k]}" for k in ("normal", "abnormal"))
    message = f"anatomy gate threshold {gate.threshold:.4f}; val normal {normal}, abnormal {abnormal} pass"
    report(progress, ProgressEvent("gate", 3, 3, message))
    return section


def _check_window(meta: dict[str, Any], window: dict[str, float], bench: Any, model_dir: Path) -> None:
    stored = meta.get("window") or {}
    if any(abs(float(stored.get(k, np.nan)) - float(window[k])) > 1e-6 for k in ("lo", "hi")):
        raise CoinError(
            f"The slice set {bench} uses intensity window {stored}, the model in {model_dir} {window}: "
            "it was not trained on this slice set.",
            "fit the gate on the slice set the model was trained on (model.json: training_data.source).",
        )
