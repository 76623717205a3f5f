"""The GAN fit for COIN and Singla* (docs/method.md §7, with the fixes of §11).

Per step s (global, from 0): the frozen classifier gives the conditions; on every
``gen_update_freq``-th step E+G take one Adam step on L_G; on every step D takes one Adam step on
L_D with x_cf detached. On D-only steps x_cf is computed under ``torch.no_grad()`` (no autograd
through G). Checkpoints every ``checkpoint_every`` steps and at the end; ``resume=True`` continues
bit-exactly on CPU from the newest one. Ctrl-C (or ``should_stop``) saves a checkpoint and raises
:class:`CoinCancelled`; a NaN/Inf loss raises :class:`CoinError` and writes nothing.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from coin_core.config import TrainConfig
from coin_core.device import pick_device
from coin_core.errors import CoinCancelled, CoinError
from coin_core.progress import EtaEstimator, ProgressCallback, ProgressEvent, StopCallback
from coin_core.train import checkpoint as ckpt
from coin_core.train import ddp, loop
from coin_core.train.events import EventSink
from coin_core.train.metrics import counterfactual_validity
from coin_core.train.phases import CounterfactualNet, conditions, discriminator_phase, generator_phase, to_bin
from coin_core.train.seeding import capture_rng, restore_rng, restored_determinism, seed_everything


@dataclass
class GanResult:
    """What :func:`fit_gan` returns: the trained networks (eval mode) and the last metrics."""

    encoder: nn.Module
    generator: nn.Module
    discriminator: nn.Module
    step: int
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None


def fit_gan(
    cfg: TrainConfig,
    train: Any,
    val: Any,
    classifier: nn.Module,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    events_jsonl: str | os.PathLike[str] | None = None,
    deadline: float | None = None,
) -> GanResult:
    """Train E, G and D against a frozen classifier.

    Args:
        cfg: the training config (``method``, ``model``, ``loss``, ``optim``, ``gan``, ...).
        train: training :class:`coin_core.data.benchmark.SliceArrays` at ``cfg.model.input_size``.
        val: validation slice arrays (counterfactual validity and losses each epoch).
        classifier: the trained classifier f (copied, frozen).
        run_dir: the run folder; checkpoints go to ``run_dir/checkpoints``.
        resume: continue from the newest checkpoint in ``run_dir`` (fresh start when none).
        device: "auto", "cpu", "cuda", ...
        progress: receives a :class:`ProgressEvent` per step (stage "gan"), per validation
            ("gan_validation") and per checkpoint ("checkpoint"); may raise KeyboardInterrupt.
        should_stop: polled between steps; True saves a checkpoint and raises CoinCancelled.
        events_jsonl: optional JSON-lines file receiving the same events (every ``log_every`` steps).
        deadline: a ``time.monotonic()`` value; once passed, training stops after the current step,
            validates, saves a checkpoint and returns normally (a "time_limit" event says so). A
            later ``--resume`` continues from there.

    Returns:
        A :class:`GanResult`.

    Raises:
        CoinError: NaN/Inf loss (naming step and term), incompatible checkpoint, too little data.
        CoinCancelled: after Ctrl-C or ``should_stop``, once the checkpoint is saved.
    """
    with restored_determinism():
        run = _GanRun(
            cfg, train, val, classifier, Path(run_dir), device, progress, should_stop, events_jsonl, deadline
        )
        try:
            return run.fit(resume)
        finally:
            run.sink.close()


class _GanRun:
    def __init__(
        self, cfg, train, val, classifier, run_dir, device, progress, should_stop, events_jsonl, deadline=None
    ) -> None:
        self.cfg, self.train, self.val, self.run_dir = cfg, train, val, run_dir
        self.info = ddp.current()
        self.device = ddp.local_device(pick_device(device), self.info)
        self.should_stop = should_stop
        self.deadline = deadline
        self.timed_out = False
        self.sink = EventSink(progress, events_jsonl, enabled=self.info.is_main)
        seed_everything(cfg.seed, cfg.deterministic)
        self._build(classifier)
        self.step = 0
        self.last_ckpt: Path | None = None
        self.metrics: dict[str, float] = {}
        self.g_terms: dict[str, float] = {}
        self.d_terms: dict[str, float] = {}
        spe = loop.batches_per_epoch(len(train), cfg.gan.batch_size, self.info, "training")
        self.steps_per_epoch = spe
        self.total_steps = min(cfg.gan.epochs * spe, cfg.gan.max_steps or cfg.gan.epochs * spe)

    # ------------------------------------------------------------------ set-up
    def _build(self, classifier: nn.Module) -> None:
        from coin_core.models import build_networks

        cfg, dev = self.cfg, self.device
        nets = build_networks(cfg.model, seed=cfg.seed, parts=("encoder", "generator", "discriminator"))
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.cf = CounterfactualNet(nets.encoder, nets.generator).to(dev, memory_format=fmt)
        self.disc = nets.discriminator.to(dev, memory_format=fmt)
        self.classifier = _frozen_copy(classifier, dev, fmt)
        o = cfg.optim
        kw = {"lr": o.lr, "betas": (o.beta1, o.beta2), "eps": o.eps}
        self.opt_g = torch.optim.Adam(self.cf.parameters(), **kw)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), **kw)
        self.scaler_g = loop.make_scaler(dev, cfg.amp, cfg.amp_dtype)
        self.scaler_d = loop.make_scaler(dev, cfg.amp, cfg.amp_dtype)
        # exponential moving average of E+G (gan.ema_decay > 0): used for validation and the model
        self.ema: CounterfactualNet | None = None
        self.ema_updates = 0
        if cfg.gan.ema_decay > 0:
            import copy

            self.ema = copy.deepcopy(self.cf).eval().requires_grad_(False)

    def _wrap(self) -> None:
        self.cf_ddp = ddp.wrap(self.cf, self.info, self.device)
        self.disc_ddp = ddp.wrap(self.disc, self.info, self.device)

    # ------------------------------------------------------------------ main loop
    def fit(self, resume: bool) -> GanResult:
        if resume:
            self._resume()
        self._wrap()
        eta = EtaEstimator(self.total_steps - self.step)
        start_step, t0 = self.step, time.monotonic()
        consistent = True
        from coin_core.data.dataset import SliceDataset

        dataset = SliceDataset(self.train)
        try:
            with loop.InterruptFlag() as interrupt:
                while self.step < self.total_steps:
                    epoch, first = divmod(self.step, self.steps_per_epoch)
                    batches = loop.epoch_batches(
                        len(self.train), self.cfg.gan.batch_size, self.cfg.seed, epoch, self.info
                    )
                    left = self.total_steps - self.step
                    batches = batches[first : first + left]
                    for batch in loop.make_loader(dataset, batches, self.cfg.num_workers, self.device):
                        consistent = False
                        self._train_step(batch["image"])
                        self.step += 1
                        consistent = True
                        self._after_step(eta, start_step, t0)
                        if self._stop_requested(interrupt):
                            raise KeyboardInterrupt
                        if self._time_up():
                            break
                    if self.step % self.steps_per_epoch == 0 or self.step >= self.total_steps:
                        self._validate()
                    elif self.timed_out:
                        self._validate()  # the last, partial epoch
                    if self.timed_out:
                        break
        except KeyboardInterrupt:
            self._on_interrupt(consistent)
        if self.last_ckpt is None or _step_of(self.last_ckpt) != self.step:
            self._save()
        ddp.barrier(self.info)
        self.cf.eval()
        self.disc.eval()
        net = self._inference_net
        return GanResult(
            encoder=net.encoder,
            generator=net.generator,
            discriminator=self.disc,
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            metrics=dict(self.metrics),
            checkpoint=self.last_ckpt,
        )

    def _train_step(self, images: torch.Tensor) -> None:
        cfg, dev = self.cfg, self.device
        x = loop.to_input(images, dev, cfg.channels_last)
        if cfg.gan.augment_flip:
            x = loop.flip_half(x, cfg.seed, self.step)
        with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
            cond = conditions(cfg.method, self.classifier, x, cfg.model.generator.num_bins)
        if self.step % cfg.gan.gen_update_freq == 0:
            self.disc.requires_grad_(False)
            with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
                x_cf, total_g, terms = generator_phase(
                    cfg.method, cfg.loss, self.cf_ddp, self.classifier, self.disc, x, cond
                )
            self.g_terms = {k: float(v.detach()) for k, v in terms.items()}
            self._check_finite(self.g_terms)
            loop.backward_step(total_g, self.opt_g, self.scaler_g)
            self._update_ema()
            self.disc.requires_grad_(True)
            x_cf = x_cf.detach()
        else:
            with torch.no_grad(), loop.autocast(dev, cfg.amp, cfg.amp_dtype):
                x_cf = self.cf_ddp(x, cond.c)
        with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
            total_d, d_terms = discriminator_phase(cfg.loss.adv, self.disc_ddp, x, x_cf, cond)
        self.d_terms = {k: float(v.detach()) for k, v in d_terms.items()}
        self._check_finite(self.d_terms)
        loop.backward_step(total_d, self.opt_d, self.scaler_d)

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        decay = min(self.cfg.gan.ema_decay, (1.0 + self.ema_updates) / (10.0 + self.ema_updates))
        for avg, cur in zip(self.ema.parameters(), self.cf.parameters(), strict=True):
            avg.lerp_(cur.detach(), 1.0 - decay)
        for avg, cur in zip(self.ema.buffers(), self.cf.buffers(), strict=True):
            avg.copy_(cur)
        self.ema_updates += 1

    @property
    def _inference_net(self) -> CounterfactualNet:
        """The E+G that validation and the saved model use: the EMA when on, else the trained one."""
        return self.cf if self.ema is None else self.ema

    def _check_finite(self, terms: dict[str, float]) -> None:
        # every process stops together (a lone rank raising would leave the others waiting)
        bad = any(not math.isfinite(v) for v in terms.values())
        if ddp.any_flag(bad, self.info, self.device):
            loop.check_finite(terms, self.step, "Training", self.last_ckpt)
            raise CoinError(
                f"Training stopped at step {self.step}: a loss became NaN/Inf on another process.",
                "lower the learning rate or switch amp off, then resume with --resume.",
            )

    def _after_step(self, eta: EtaEstimator, start_step: int, t0: float) -> None:
        cfg = self.cfg
        done = self.step - start_step
        eta_s = eta.eta_s(done)
        epoch = (self.step - 1) // self.steps_per_epoch
        metrics = {
            "epoch": epoch,
            "step": self.step,
            "eta_s": eta_s,
            "steps_per_s": done / max(time.monotonic() - t0, 1e-9),
            **self.g_terms,
            **self.d_terms,
        }
        event = ProgressEvent(
            stage="gan",
            done=self.step,
            total=self.total_steps,
            message=f"GAN epoch {epoch + 1}, step {self.step}/{self.total_steps}",
            metrics=metrics,
        )
        if self.step % cfg.gan.checkpoint_every == 0:
            self._save()
        self.sink.emit(event, to_file=self.step % cfg.gan.log_every == 0 or self.step == self.total_steps)

    def _time_up(self) -> bool:
        """True once the wall-time deadline has passed (every process agrees); emits one message."""
        if self.deadline is None:
            return False
        self.timed_out = ddp.any_flag(time.monotonic() >= self.deadline, self.info, self.device)
        if self.timed_out:
            self.sink.emit(
                ProgressEvent(
                    stage="time_limit",
                    message=f"Wall-time limit reached at GAN step {self.step}/{self.total_steps}; "
                    "validating and saving the model.",
                )
            )
        return self.timed_out

    def _stop_requested(self, interrupt: loop.InterruptFlag) -> bool:
        flag = interrupt.raised or (self.should_stop is not None and bool(self.should_stop()))
        return ddp.any_flag(flag, self.info, self.device)

    def _on_interrupt(self, consistent: bool) -> None:
        if consistent and (self.last_ckpt is None or _step_of(self.last_ckpt) != self.step):
            self._save()
        kept = self.last_ckpt is not None and (
            not self.info.is_main or (self.last_ckpt / "state.json").is_file()
        )
        where = f"checkpoint {self.last_ckpt}" if kept else "no checkpoint (nothing to keep yet)"
        raise CoinCancelled(
            f"Training interrupted at step {self.step}/{self.total_steps}; kept {where}. "
            "Run the same command with --resume to continue."
        )

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def _validate(self) -> None:
        if self.info.is_main and len(self.val):
            self.metrics = self._val_metrics()
            epoch = (self.step - 1) // self.steps_per_epoch
            msg = f"GAN validation after epoch {epoch + 1}: CV {self.metrics.get('val/cv', float('nan')):.3f}"
            event = ProgressEvent(
                stage="gan_validation",
                done=self.step,
                total=self.total_steps,
                message=msg,
                metrics={"epoch": epoch, "step": self.step, **self.metrics},
            )
            self.sink.emit(event)
        ddp.barrier(self.info)

    def _val_metrics(self) -> dict[str, float]:
        cfg, dev = self.cfg, self.device
        self.cf.eval()
        self.disc.eval()
        bs = cfg.gan.batch_size
        n = len(self.val)
        limit = n if cfg.gan.val_max_batches is None else min(n, cfg.gan.val_max_batches * bs)
        ps, pcfs, cs, sums, count = [], [], [], {}, 0
        for lo in range(0, limit, bs):
            img = np.asarray(self.val.image[lo : min(lo + bs, limit)], dtype=np.float32)
            x = loop.to_input(torch.from_numpy(img)[:, None], dev, cfg.channels_last)
            with loop.autocast(dev, cfg.amp, cfg.amp_dtype):
                cond = conditions(cfg.method, self.classifier, x, cfg.model.generator.num_bins)
                x_cf, _, g = generator_phase(
                    cfg.method, cfg.loss, self._inference_net, self.classifier, self.disc, x, cond
                )
                _, d = discriminator_phase(cfg.loss.adv, self.disc, x, x_cf, cond)
                p_cf = torch.sigmoid(self.classifier(x_cf).float().flatten())
            ps.append(cond.p.cpu().numpy())
            pcfs.append(p_cf.cpu().numpy())
            cs.append((cond.c == to_bin(p_cf, cfg.model.generator.num_bins)).cpu().numpy())
            for k, v in {**g, **d}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * x.shape[0]
            count += x.shape[0]
        self.cf.train()
        self.disc.train()
        p, p_cf = np.concatenate(ps), np.concatenate(pcfs)
        out = {f"val/{k}": v / count for k, v in sums.items()}
        out["val/cv"] = counterfactual_validity(p, p_cf)
        out["val/cf_acc"] = float(np.mean(np.concatenate(cs)))
        out["val/confident_positives"] = int(np.sum(p > 0.8))
        return out

    # ------------------------------------------------------------------ checkpoints
    def _save(self) -> None:
        if self.info.is_main:
            tensors = {}
            tensors.update(ckpt.module_tensors("encoder", self.cf.encoder))
            tensors.update(ckpt.module_tensors("generator", self.cf.generator))
            tensors.update(ckpt.module_tensors("discriminator", self.disc))
            tensors.update(ckpt.module_tensors("classifier", self.classifier))
            if self.ema is not None:
                tensors.update(ckpt.module_tensors("ema", self.ema))
            g_t, g_meta = ckpt.optimizer_to_parts("optim_g", self.opt_g)
            d_t, d_meta = ckpt.optimizer_to_parts("optim_d", self.opt_d)
            rng_t, rng_meta = capture_rng()
            tensors.update(g_t)
            tensors.update(d_t)
            tensors.update(rng_t)
            meta = {
                "epoch": self.step // self.steps_per_epoch,
                "steps_per_epoch": self.steps_per_epoch,
                "config": self.cfg.to_dict(),
                "optim_g": g_meta,
                "optim_d": d_meta,
                "scalers": {k: s.state_dict() for k, s in (("g", self.scaler_g), ("d", self.scaler_d)) if s},
                "rng": rng_meta,
                "metrics": self.metrics,
                "ema_updates": self.ema_updates,
            }
            self.last_ckpt = ckpt.save_checkpoint(
                self.run_dir, self.step, tensors, meta, self.cfg.gan.keep_checkpoints
            )
            self.sink.emit(
                ProgressEvent(
                    stage="checkpoint", done=self.step, total=self.total_steps, message=str(self.last_ckpt)
                )
            )
        else:
            self.last_ckpt = self.run_dir / "checkpoints" / f"{ckpt.PREFIX}{self.step:08d}"

    def _resume(self) -> None:
        found = ckpt.load_latest_intact(self.run_dir)
        if found is None:
            where = self.run_dir / "checkpoints"
            self.sink.emit(
                ProgressEvent(
                    stage="resume",
                    message=f"--resume: no checkpoint in {where}; the GAN starts from scratch (step 0).",
                )
            )
            return
        folder, tensors, meta, skipped = found
        for bad, why in skipped:
            self.sink.emit(
                ProgressEvent(
                    stage="resume",
                    message=f"Skipped checkpoint {bad.name}: it cannot be read ({why}); using {folder.name}.",
                )
            )
        ckpt.check_compatible(self.cfg.to_dict(), meta.get("config", {}), folder)
        try:
            ckpt.load_module("encoder", self.cf.encoder, tensors)
            ckpt.load_module("generator", self.cf.generator, tensors)
            ckpt.load_module("discriminator", self.disc, tensors)
            ckpt.load_module("classifier", self.classifier, tensors)
            if self.ema is not None:
                ckpt.load_module("ema", self.ema, tensors)
                self.ema_updates = int(meta.get("ema_updates", 0))
            ckpt.optimizer_from_parts("optim_g", self.opt_g, tensors, meta["optim_g"])
            ckpt.optimizer_from_parts("optim_d", self.opt_d, tensors, meta["optim_d"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise CoinError(
                f"Checkpoint {folder} does not fit this run: {err}",
                "start a new run folder instead of --resume.",
            ) from None
        for key, scaler in (("g", self.scaler_g), ("d", self.scaler_d)):
            if scaler is not None and key in meta.get("scalers", {}):
                scaler.load_state_dict(meta["scalers"][key])
        restore_rng(tensors, meta["rng"])
        self.step = int(meta["step"])
        self.metrics = dict(meta.get("metrics", {}))
        self.last_ckpt = folder
        # a message-only event (shown above a progress bar), then the bar's position
        self.sink.emit(ProgressEvent(stage="resume", message=f"Resumed from {folder} at step {self.step}"))
        self.sink.emit(
            ProgressEvent(
                stage="gan", done=self.step, total=self.total_steps, message=f"Resumed from {folder}"
            )
        )


def _frozen_copy(classifier: nn.Module, device: torch.device, fmt: torch.memory_format) -> nn.Module:
    import copy

    f = copy.deepcopy(ddp.unwrap(classifier)).to(device, memory_format=fmt)
    f.eval()
    f.requires_grad_(False)
    return f


def _step_of(folder: Path) -> int:
    return int(folder.name[len(ckpt.PREFIX) :])
