"""Classifier fit (docs/method.md §4) and the classifier folder the GAN fit starts from.

BCE-with-logits on the slice labels, Adam, the paper's augmentation with air fill
(:class:`coin_core.data.dataset.ClassifierAugment`), validation ROC AUC, BCE and balanced
accuracy after each epoch; the best epoch's weights are kept, by AUC unless ``classifier.select``
says otherwise (the paper picked its checkpoint by hand, §4).

A classifier folder holds ``classifier.safetensors`` and ``classifier.json`` (format
``coin-classifier/1``, the architecture, input size, window, metrics, epoch, software version).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from coin_core import __version__
from coin_core.config import TrainConfig
from coin_core.device import pick_device
from coin_core.errors import CoinCancelled, CoinError
from coin_core.fileutil import OutputSet
from coin_core.jsonfile import read_json
from coin_core.models.config import NetworkConfig
from coin_core.progress import EtaEstimator, ProgressCallback, ProgressEvent, StopCallback
from coin_core.train import ddp, loop
from coin_core.train.events import EventSink
from coin_core.train.metrics import roc_auc
from coin_core.train.seeding import restored_determinism, seed_everything

FORMAT = "coin-classifier/1"
WEIGHTS = "classifier.safetensors"
CARD = "classifier.json"


@dataclass
class ClassifierResult:
    """The best classifier (eval mode, on the training device), its metrics and its folder."""

    classifier: nn.Module
    metrics: dict[str, float] = field(default_factory=dict)
    folder: Path | None = None


def fit_classifier(
    cfg: TrainConfig,
    train: Any,
    val: Any,
    out_dir: str | os.PathLike[str],
    *,
    window: dict[str, float] | None = None,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    events_jsonl: str | os.PathLike[str] | None = None,
    deadline: float | None = None,
) -> ClassifierResult:
    """Train the ResNet-18 classifier and write the best epoch's weights to ``out_dir``.

    Args:
        cfg: training config (``cfg.model`` architecture, ``cfg.classifier`` schedule).
        train, val: :class:`coin_core.data.benchmark.SliceArrays` at ``cfg.model.input_size``.
        out_dir: the classifier folder to write (rewritten whenever the ``classifier.select``
            score improves).
        window: the intensity window of the data, stored in the folder's card.
        device: "auto", "cpu", "cuda", ...
        progress: receives per-step ("classifier") and per-epoch ("classifier_validation") events.
        should_stop: polled between steps; True raises CoinCancelled (the best folder so far stays).
        events_jsonl: optional JSON-lines file receiving the events.
        deadline: a ``time.monotonic()`` value; no epoch starts after it (at least one runs), and
            the best epoch so far is kept (a "time_limit" event says so).

    Returns:
        A :class:`ClassifierResult` with the best weights loaded.
    """
    sink = EventSink(progress, events_jsonl, enabled=ddp.current().is_main)
    try:
        with restored_determinism():
            return _fit(cfg, train, val, Path(out_dir), window, device, sink, should_stop, deadline)
    except KeyboardInterrupt:
        raise CoinCancelled(
            f"Classifier training interrupted; the best classifier so far (if any) is in {out_dir}. "
            "Rerun the command to train it again."
        ) from None
    finally:
        sink.close()


def _fit(cfg, train, val, out_dir, window, device, sink, should_stop, deadline=None) -> ClassifierResult:
    from coin_core.data.dataset import ClassifierAugment, SliceDataset
    from coin_core.models import build_networks

    info = ddp.current()
    dev = ddp.local_device(pick_device(device), info)
    cc = cfg.classifier
    seed_everything(cfg.seed, cfg.deterministic)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = build_networks(cfg.model, seed=cfg.seed, parts=("classifier",)).classifier.to(
        dev, memory_format=fmt
    )
    wrapped = ddp.wrap(model, info, dev)
    opt = torch.optim.Adam(
        model.parameters(), lr=cc.lr, betas=(cc.beta1, cc.beta2), weight_decay=cc.weight_decay
    )
    scaler = loop.make_scaler(dev, cfg.amp, cfg.amp_dtype)
    aug = None
    if cc.augment:
        aug = ClassifierAugment(
            shift=0.07 * cc.augment_affine,
            scale=0.1 * cc.augment_affine,
            rotate_deg=10.0 * cc.augment_affine,
            intensity=cc.augment_intensity,
            noise_std=cc.augment_noise,
            seed=cfg.seed + info.rank,
        )
    dataset = SliceDataset(train, transform=aug)
    per_pass = loop.batches_per_epoch(len(train), cc.batch_size, info, "training")
    spe = cc.steps_per_epoch or per_pass
    total = cc.epochs * spe
    eta = EtaEstimator(total)
    best: dict[str, Any] = {"score": (-math.inf, -math.inf), "state": None, "metrics": {}}
    stream = _batch_stream(len(train), cc.batch_size, cfg.seed, info)
    step = 0
    loss_fn = nn.BCEWithLogitsLoss()
    with loop.InterruptFlag() as interrupt:
        for epoch in range(cc.epochs):
            model.train()
            batches = [next(stream) for _ in range(spe)]
            t0 = time.monotonic()
            for batch in loop.make_loader(dataset, batches, cfg.num_workers, dev):
                x = loop.to_input(batch["image"], dev, cfg.channels_last)
                y = batch["label"].to(dev).float()
                with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
                    loss = loss_fn(wrapped(x).float().flatten(), y)
                value = float(loss.detach())
                loop.check_finite({"Loss/C/bce": value}, step, "Classifier training", None)
                loop.backward_step(loss, opt, scaler)
                step += 1
                sink.emit(
                    ProgressEvent(
                        stage="classifier",
                        done=step,
                        total=total,
                        message=f"classifier epoch {epoch + 1}/{cc.epochs}, step {step}/{total}",
                        metrics={"epoch": epoch, "step": step, "Loss/C/bce": value, "eta_s": eta.eta_s(step)},
                    ),
                    to_file=step % cfg.gan.log_every == 0,
                )
                stop = interrupt.raised or (should_stop is not None and bool(should_stop()))
                if ddp.any_flag(stop, info, dev):
                    raise CoinCancelled(
                        f"Classifier training interrupted at step {step}/{total}."
                        + (f" The best classifier so far is in {out_dir}." if best["state"] else "")
                    )
            if cc.bn_recalibrate:
                recalibrate_batchnorm(model, train.image, cc.batch_size, dev, cfg.channels_last)
            metrics = _validate(model, val, cfg, dev) if info.is_main else {}
            metrics["train/steps_per_s"] = spe / max(time.monotonic() - t0, 1e-9)
            score = selection_score(metrics, cc.select)
            if info.is_main and score > best["score"]:
                kept = {**metrics, "epoch": epoch + 1}
                best = {"score": score, "state": copy.deepcopy(model.state_dict()), "metrics": kept}
                save_classifier(
                    out_dir, model, cfg.model, window=window, metrics=best["metrics"], input_crop=cfg.crop
                )
            sink.emit(
                ProgressEvent(
                    stage="classifier_validation",
                    done=epoch + 1,
                    total=cc.epochs,
                    message=f"classifier epoch {epoch + 1}: val AUC {metrics.get('val/auc', math.nan):.3f}",
                    metrics={"epoch": epoch, "step": step, **metrics, "eta_s": eta.eta_s(step)},
                )
            )
            late = deadline is not None and time.monotonic() >= deadline
            if epoch + 1 < cc.epochs and ddp.any_flag(late, info, dev):
                message = f"Wall-time limit reached after classifier epoch {epoch + 1}/{cc.epochs}."
                sink.emit(ProgressEvent(stage="time_limit", message=message))
                break
    ddp.barrier(info)
    if info.enabled:
        model, _ = load_classifier(out_dir, cfg.model, device=str(dev))
    elif best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return ClassifierResult(classifier=model, metrics=best["metrics"], folder=out_dir)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, images: Any, batch_size: int, dev: torch.device, channels_last: bool = False
) -> None:
    """Set every BatchNorm's running mean/variance to the average over ``images`` ("precise BN").

    ``images``: (N, S, S) array of training slices (unaugmented). The statistics are the
    cumulative average (``momentum=None``) of the batch statistics the layers normalise with in
    training, over about ``batch_size``-sized batches of a fixed shuffle (no batch of one);
    weights are not touched and the model returns to its mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(images) == 0:
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        n = len(images)
        # shuffled batches, like the training batches: stored order groups slices, and the average
        # variance of such batches would miss the variance between them
        order = np.random.default_rng(0).permutation(n)
        for rows in np.array_split(order, max(1, min(math.ceil(n / batch_size), n // 2))):
            img = torch.from_numpy(np.asarray(images[np.sort(rows)], dtype=np.float32))[:, None]
            model(loop.to_input(img, dev, channels_last))
    finally:
        for m, mom in zip(norms, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)


def selection_score(metrics: dict[str, float], select: str) -> tuple[float, float]:
    """The key (higher is better) by which epochs are compared under ``classifier.select``.

    ``auc``: (AUC, -loss), ties (AUC 1.0 is common on easy sets) go to the lower loss; ``loss``:
    (-loss, AUC); ``balanced_accuracy``: (balanced accuracy at p = 0.5, -loss). NaN or missing
    values rank last.
    """

    def val(key: str, sign: float) -> float:
        v = metrics.get(key, math.nan)
        return -math.inf if math.isnan(v) else sign * v

    if select == "auc":
        return val("val/auc", 1.0), val("val/loss", -1.0)
    if select == "loss":
        return val("val/loss", -1.0), val("val/auc", 1.0)
    if select == "balanced_accuracy":
        return val("val/balanced_accuracy", 1.0), val("val/loss", -1.0)
    raise CoinError(f"classifier.select is {select!r}.", "use one of: auc, loss, balanced_accuracy.")


def _batch_stream(n: int, batch_size: int, seed: int, info: ddp.DistInfo):
    epoch = 0
    while True:
        yield from loop.epoch_batches(n, batch_size, seed, epoch, info)
        epoch += 1


@torch.no_grad()
def _validate(model: nn.Module, val: Any, cfg: TrainConfig, dev: torch.device) -> dict[str, float]:
    model.eval()
    bs = cfg.classifier.batch_size
    n = len(val)
    limit = n if cfg.classifier.val_max_batches is None else min(n, cfg.classifier.val_max_batches * bs)
    logits = []
    for lo in range(0, limit, bs):
        img = torch.from_numpy(np.asarray(val.image[lo : min(lo + bs, limit)], dtype=np.float32))[:, None]
        with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
            logits.append(model(loop.to_input(img, dev, cfg.channels_last)).float().flatten().cpu())
    model.train()
    if not logits:
        return {}
    z = torch.cat(logits)
    y = torch.from_numpy(np.asarray(val.label[:limit], dtype=np.float32))
    p = torch.sigmoid(z).numpy()
    pred = p >= 0.5
    yb = y.numpy().astype(bool)
    tp = float(np.sum(pred & yb))
    precision = tp / max(float(pred.sum()), 1.0)
    recall = tp / max(float(yb.sum()), 1.0)
    specificity = float(np.sum(~pred & ~yb)) / max(float((~yb).sum()), 1.0)
    return {
        "val/auc": roc_auc(yb, p),
        "val/loss": float(nn.functional.binary_cross_entropy_with_logits(z, y)),
        "val/accuracy": float(np.mean(pred == yb)),
        "val/f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "val/balanced_accuracy": 0.5 * (recall + specificity),
    }


# ---------------------------------------------------------------------- the classifier folder


def save_classifier(
    folder: str | os.PathLike[str],
    classifier: nn.Module,
    architecture: NetworkConfig,
    *,
    window: dict[str, float] | None = None,
    metrics: dict[str, Any] | None = None,
    input_crop: Any = None,
) -> Path:
    """Write ``classifier.safetensors`` + ``classifier.json`` into ``folder`` (both or neither).

    ``input_crop``: the recipe's host-organ box (``TrainConfig.crop``), recorded so that a GAN run
    refuses a classifier trained on other input geometry.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    sd = {k: v.detach().cpu().contiguous() for k, v in ddp.unwrap(classifier).state_dict().items()}
    card = {
        "format": FORMAT,
        "architecture": architecture.to_dict(),
        "input_size": architecture.input_size,
        "window": window,
        "input_crop": None if input_crop is None else [float(v) for v in input_crop.size_mm],
        "metrics": metrics or {},
        "software_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with OutputSet([folder / WEIGHTS, folder / CARD], overwrite=True) as out:
        save_file(sd, str(out.tmp(folder / WEIGHTS)))
        out.tmp(folder / CARD).write_text(json.dumps(card, indent=2, default=float) + "\n", encoding="utf-8")
    return folder


def read_classifier_card(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON card of a classifier folder (checked for format)."""
    folder = resolve_classifier_dir(folder)
    path = Path(folder) / CARD
    if not path.is_file() or not (Path(folder) / WEIGHTS).is_file():
        raise CoinError(
            f"Not a classifier folder: {folder} needs {CARD} and {WEIGHTS}.",
            "train one with 'coin train-classifier --data BENCH --out RUN' (it writes RUN/classifier).",
        )
    card = read_json(path, "retrain the classifier.")
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CoinError(
            f"{path}: unknown format {card.get('format') if isinstance(card, dict) else card!r}.",
            f"this version reads {FORMAT!r}; retrain the classifier.",
        )
    return card


def resolve_classifier_dir(folder: str | os.PathLike[str]) -> Path:
    """``folder`` itself, or ``folder/classifier`` when ``folder`` is a run folder holding one."""
    folder = Path(folder)
    if not (folder / CARD).is_file() and (folder / "classifier" / CARD).is_file():
        return folder / "classifier"
    return folder


def load_classifier(
    folder: str | os.PathLike[str], expected: NetworkConfig | None = None, device: str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a classifier folder; check it fits ``expected`` (input size, classifier widths).

    Returns:
        (the classifier module in eval mode on ``device``, its card).
    """
    from safetensors.torch import load_file

    from coin_core.models import build_networks

    folder = resolve_classifier_dir(folder)
    card = read_classifier_card(folder)
    arch = NetworkConfig.from_dict(card["architecture"], source=f"{Path(folder) / CARD}: architecture")
    if expected is not None:
        mismatch = [
            name
            for name, a, b in (
                ("input_size", arch.input_size, expected.input_size),
                ("in_channels", arch.in_channels, expected.in_channels),
                ("classifier.base_width", arch.classifier.base_width, expected.classifier.base_width),
            )
            if a != b
        ]
        if mismatch:
            got = {k: _get(arch, k) for k in mismatch}
            want = {k: _get(expected, k) for k in mismatch}
            raise CoinError(
                f"The classifier in {folder} was trained with {got}, but the config asks for {want}.",
                "train a classifier with this config (leave out --classifier), or change model.* to match.",
            )
    model = build_networks(arch, parts=("classifier",)).classifier
    try:
        model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)), strict=True)
    except (RuntimeError, OSError, ValueError) as err:
        raise CoinError(
            f"{Path(folder) / WEIGHTS} does not match its card: {err}", "retrain the classifier."
        ) from None
    model.to(pick_device(device)).eval()
    return model, card


def _get(cfg: NetworkConfig, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
