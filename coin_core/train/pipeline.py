"""A whole training run on a prepared slice set: classifier (unless given), GAN, model folder.

Run folder::

    RUN/config.yaml      the resolved config (written at the start; --resume checks against it)
    RUN/classifier/      the classifier folder (when trained here)
    RUN/checkpoints/     GAN checkpoints (step-XXXXXXXX/)
    RUN/model/           the final model folder (coin_core.modelfile), with its anatomy gate
                         (coin_core.gate, fitted on the same train / val splits)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from coin_core.config import TrainConfig, load_config
from coin_core.errors import CoinError
from coin_core.fileutil import atomic_path
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback


def load_bench(bench: str | os.PathLike[str], size: int, crop: Any = None) -> tuple[dict[str, Any], Any, Any]:
    """(benchmark.json, train arrays, val arrays) at ``size`` x ``size``.

    ``crop`` (``TrainConfig.crop``): the arrays are the host-organ boxes (:mod:`coin_core.data.crop`)
    instead of the whole slices.
    """
    from coin_core.data.benchmark import load_split, read_benchmark_json

    meta = read_benchmark_json(bench)
    if crop is None:
        return meta, load_split(bench, "train", size), load_split(bench, "val", size)
    from coin_core.data.crop import HostCrop, crop_arrays

    box = HostCrop(tuple(crop.size_mm))
    return (
        meta,
        crop_arrays(load_split(bench, "train"), box, meta, size)[0],
        crop_arrays(load_split(bench, "val"), box, meta, size)[0],
    )


def card_crop(cfg: Any) -> Any:
    """The model card's ``input_crop`` for a training config (None: the whole slice)."""
    from coin_core.data.crop import HostCrop

    return None if cfg.crop is None else HostCrop(tuple(cfg.crop.size_mm))


def data_summary(bench: str | os.PathLike[str], meta: dict[str, Any], train: Any, val: Any) -> dict[str, Any]:
    """The training-data summary stored in the model card."""
    return {
        "source": str(Path(bench).resolve()),
        "format": meta.get("format"),
        "host": meta.get("host"),
        "stored_input_size": meta.get("input_size"),
        "cases": len(meta.get("cases", [])),
        "train_slices": len(train),
        "train_abnormal": int(train.label.sum()),
        "val_slices": len(val),
        "val_abnormal": int(val.label.sum()),
        "single_patient": meta.get("single_patient"),
        "seed": meta.get("seed"),
    }


#: what a run folder holds once a run started there (anything else in it is left alone)
RUN_ENTRIES = ("config.yaml", "checkpoints", "classifier", "model")


def previous_run(run_dir: Path) -> list[str]:
    """The entries of an earlier run in ``run_dir`` (``RUN_ENTRIES`` that exist; checkpoints by name)."""
    from coin_core.train.checkpoint import list_checkpoints

    found = []
    for name in RUN_ENTRIES:
        path = run_dir / name
        if name == "checkpoints":
            found += [f"checkpoints/{p.name}" for p in list_checkpoints(run_dir)]
        elif path.exists():
            found.append(name + ("/" if path.is_dir() else ""))
    return found


def check_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> list[str]:
    """Refuse to start a new run over an earlier one unless asked; returns the earlier run's entries.

    Raises:
        CoinError: ``resume`` with ``overwrite``; an earlier run without ``resume`` or ``overwrite``.
    """
    if resume and overwrite:
        raise CoinError(
            "--resume and --overwrite contradict each other",
            "use --resume to continue the run in this folder, or --overwrite to replace it",
        )
    found = previous_run(run_dir)
    if found and not resume and not overwrite:
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        raise CoinError(
            f"{run_dir} already holds a training run ({shown})",
            "continue it with --resume, replace it with --overwrite, or pick a new --out folder",
        )
    return found


def prepare_run_folder(
    run_dir: Path, resume: bool, overwrite: bool, progress: ProgressCallback | None = None
) -> None:
    """:func:`check_run_folder`, then ``overwrite`` removes the earlier run (main rank only).

    Only ``RUN_ENTRIES`` are removed (a Slicer run's ``bench/``, ``slicer_run.json`` and any other
    file of the user stay). ``resume`` with nothing to resume says so through ``progress``.
    """
    import shutil

    from coin_core.train import ddp

    found = check_run_folder(run_dir, resume, overwrite)
    if found and overwrite and ddp.current().is_main:
        for name in RUN_ENTRIES:
            path = run_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    if resume and not found and progress is not None:
        progress(
            ProgressEvent(
                stage="resume",
                message=f"--resume: nothing to resume in {run_dir}; starting a new run from scratch.",
            )
        )


def write_run_config(run_dir: Path, cfg: TrainConfig, resume: bool) -> None:
    """Write RUN/config.yaml; on resume check the stored one is compatible."""
    import yaml

    from coin_core.train.checkpoint import check_compatible

    path = run_dir / "config.yaml"
    if resume and path.is_file():
        stored = load_config(path)
        check_compatible(cfg.to_dict(), stored.to_dict(), path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")


def train_model(
    bench: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    cfg: TrainConfig,
    *,
    classifier_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    events_jsonl: str | os.PathLike[str] | None = None,
    max_minutes: float | None = None,
) -> Path:
    """Train a complete model on ``bench`` and write ``run_dir/model``.

    Args:
        bench: a prepared slice set folder (``coin data synth-lesions``).
        run_dir: the run folder (created).
        cfg: the training config.
        classifier_dir: a trained classifier folder; None trains one into ``run_dir/classifier``
            (or reuses it there on ``resume``).
        resume: continue an interrupted run from its newest intact checkpoint.
        overwrite: replace an earlier run in ``run_dir`` (without it, and without ``resume``, an
            earlier run there is refused: its checkpoints would be pruned and mixed with the new run's).
        device, progress, should_stop, events_jsonl: see :func:`coin_core.train.gan.fit_gan`.
        max_minutes: wall-time budget of the training steps, from the call: the classifier stops
            starting epochs after ``CLASSIFIER_SHARE`` of it, the GAN stops taking steps when it is
            spent; validation, checkpoint, model folder and gate follow (seconds).

    Returns:
        The model folder ``run_dir/model``.
    """
    from coin_core.data.window import IntensityWindow
    from coin_core.gate.fit import fit_and_write
    from coin_core.modelfile import ModelCard, save_model
    from coin_core.train import ddp
    from coin_core.train.classifier import fit_classifier, load_classifier
    from coin_core.train.events import finite_or_none
    from coin_core.train.gan import fit_gan

    deadlines = _deadlines(max_minutes)
    run = Path(run_dir)
    info = ddp.current()
    check_run_folder(run, resume, overwrite)  # refuse before the slow load; nothing removed yet
    meta, train, val = load_bench(bench, cfg.model.input_size, cfg.crop)
    prepare_run_folder(run, resume, overwrite, progress if info.is_main else None)
    window = IntensityWindow.from_dict(meta["window"], source=f"{bench}/benchmark.json: window")
    if info.is_main:
        run.mkdir(parents=True, exist_ok=True)
        write_run_config(run, cfg, resume)
    common = {
        "device": device,
        "progress": progress,
        "should_stop": should_stop,
        "events_jsonl": events_jsonl,
    }
    cls_dir = Path(classifier_dir) if classifier_dir else run / "classifier"
    if classifier_dir is not None or (resume and (cls_dir / "classifier.json").is_file()):
        classifier, card = load_classifier(cls_dir, cfg.model, device=device)
        cls_metrics = card.get("metrics", {})
        _check_window(card, window.to_dict(), cls_dir)
        _check_crop(card, cfg, cls_dir)
    else:
        res = fit_classifier(
            cfg, train, val, cls_dir, window=window.to_dict(), deadline=deadlines[0], **common
        )
        classifier, cls_metrics = res.classifier, res.metrics
    result = fit_gan(cfg, train, val, classifier, run, resume=resume, deadline=deadlines[1], **common)
    model_dir = run / "model"
    if info.is_main:
        card = ModelCard(
            method=cfg.method,
            architecture=cfg.model,
            input_size=cfg.model.input_size,
            window=window,
            input_crop=card_crop(cfg),
            training_data=data_summary(bench, meta, train, val),
            validation_metrics=finite_or_none(
                {"classifier": cls_metrics, "gan": result.metrics, "gan_steps": result.step}
            ),
        )
        nets = (classifier, result.encoder, result.generator)
        card = with_tuned_threshold(card, *nets, val, bench=bench, progress=progress, should_stop=should_stop)
        save_model(model_dir, card, classifier, result.encoder, result.generator)
        fit_and_write(model_dir, bench, meta, classifier, train, val, progress=progress)
    ddp.barrier(info)
    return model_dir


def with_tuned_threshold(
    card: Any,
    classifier: Any,
    encoder: Any,
    generator: Any,
    val: Any,
    progress: ProgressCallback | None = None,
    *,
    bench: str | os.PathLike[str] | None = None,
    should_stop: StopCallback | None = None,
) -> Any:
    """``card`` with the difference threshold and mask margin tuned on the val split.

    ``coin evaluate``'s routine: the pair maximises the micro IoU over the val split's abnormal
    samples with the paper's post-processing; the card records how (``threshold_source``). With
    ``bench`` the val split is read from it in ``coin evaluate``'s frame, with the pixel size the
    margin needs; without it, ``val`` (arrays at the model's size) is used and no margin is tuned. A val
    split without pixel ground truth keeps the paper's fixed threshold and says so.
    """
    import dataclasses

    from coin_core.evaluation.evaluate import tune_threshold
    from coin_core.infer.postprocess import DEFAULT_POSTPROCESS
    from coin_core.modelfile import CoinModel, threshold_source
    from coin_core.progress import ProgressEvent, report

    pp = DEFAULT_POSTPROCESS
    if not ((val.label == 1) & (val.has_mask == 1)).any():
        how = "paper's fixed threshold (the val split has no pixel ground truth to tune on)"
        report(progress, ProgressEvent("threshold", 1, 1, f"threshold {card.threshold:g}: {how}"))
        fixed = {"method": how, "split": "val", "post_processing": pp}
        return dataclasses.replace(card, threshold_source=fixed)
    report(progress, ProgressEvent("threshold", 0, 1, "tuning the difference threshold on val"))
    nets = [getattr(m, "module", m) for m in (classifier, encoder, generator)]
    model = CoinModel(card, *nets)
    tuned = tune_threshold(model, val if bench is None else bench, postprocess=pp, should_stop=should_stop)
    extra = {"margins_mm": tuned["sweep"]["margins_mm"]}
    if "margin_note" in tuned:
        extra["margin_note"] = tuned["margin_note"]
    source = threshold_source("val", pp, tuned["val_micro_iou"], tuned["n_val_slices"], **extra)
    msg = (
        f"threshold {tuned['threshold']:g} and margin {tuned['margin_mm']:g} mm tuned on val "
        f"(micro IoU {tuned['val_micro_iou']:.3f})"
    )
    report(progress, ProgressEvent("threshold", 1, 1, msg))
    return dataclasses.replace(
        card, threshold=tuned["threshold"], margin_mm=tuned["margin_mm"], threshold_source=source
    )


CLASSIFIER_SHARE = 0.4
"""Share of ``max_minutes`` after which the classifier starts no new epoch."""


def _deadlines(max_minutes: float | None) -> tuple[float | None, float | None]:
    """(classifier, GAN) deadlines on ``time.monotonic()`` for a budget of ``max_minutes``."""
    if max_minutes is None:
        return None, None
    if not max_minutes > 0:
        raise CoinError(f"--max-minutes {max_minutes} is not positive.", "give the training budget, e.g. 7.")
    now = time.monotonic()
    return now + CLASSIFIER_SHARE * 60.0 * max_minutes, now + 60.0 * max_minutes


def _check_crop(card: dict[str, Any], cfg: Any, folder: Path) -> None:
    stored = card.get("input_crop")
    wanted = None if cfg.crop is None else [float(v) for v in cfg.crop.size_mm]
    if stored != wanted:
        raise CoinError(
            f"The classifier in {folder} was trained on {_geometry(stored)}, but this recipe gives the "
            f"networks {_geometry(wanted)}.",
            "train the classifier with the same recipe (leave out --classifier).",
        )


def _geometry(size_mm: Any) -> str:
    return "whole slices" if size_mm is None else f"a {size_mm[0]:g} x {size_mm[1]:g} mm host-organ box"


def _check_window(card: dict[str, Any], window: dict[str, float], folder: Path) -> None:
    stored = card.get("window")
    if stored and any(abs(float(stored[k]) - float(window[k])) > 1e-6 for k in ("lo", "hi")):
        raise CoinError(
            f"The classifier in {folder} was trained with intensity window {stored}, "
            f"but the slice set uses {window}.",
            "train the classifier on this slice set (leave out --classifier).",
        )
