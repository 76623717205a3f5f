"""Pieces shared by the classifier and GAN loops: data order, loaders, precision, interrupts.

Data order is a pure function of (seed, epoch, rank, world size): a ``DistributedSampler`` permutation
cut into full batches. A resumed run therefore replays exactly the batches the interrupted one
would have seen, by skipping the ones already done.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from typing import Any

import torch

from coin_core.errors import CoinError
from coin_core.train.ddp import DistInfo


class _Sized:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, info: DistInfo) -> list[list[int]]:
    """This process's full batches of one shuffled epoch (the tail that fills no batch is dropped)."""
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(
        _Sized(n), num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed, drop_last=True
    )
    sampler.set_epoch(epoch)
    idx = list(sampler)
    return [idx[i : i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]


def batches_per_epoch(n: int, batch_size: int, info: DistInfo, what: str) -> int:
    """Full batches per epoch per process; a CoinError when the split is too small for one."""
    per_rank = n // info.world_size
    count = per_rank // batch_size
    if count < 1:
        raise CoinError(
            f"The {what} split has {n} slices, too few for one batch of {batch_size} "
            f"on {info.world_size} process(es).",
            "lower the batch size in the config or build a larger slice set.",
        )
    return count


def flip_half(x: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """``x`` [B,C,H,W] with a random half of its samples mirrored left-right (the last axis).

    Which samples are mirrored depends only on (``seed``, ``step``), so a resumed run mirrors the same
    ones. Each sample is mirrored with probability 1/2, independently.
    """
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    pick = torch.rand(x.shape[0], generator=gen) < 0.5
    if not bool(pick.any()):
        return x
    pick = pick.to(x.device).view(-1, *([1] * (x.dim() - 1)))
    return torch.where(pick, x.flip(-1), x)


def make_loader(dataset: Any, batches: list[list[int]], num_workers: int, device: torch.device):
    """A DataLoader yielding the given index batches in order."""
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def to_input(t: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch of images to ``device`` (NHWC when ``channels_last``)."""
    t = t.to(device, non_blocking=True)
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


def autocast(device: torch.device, amp: bool, amp_dtype: str):
    """Mixed-precision context on CUDA when ``amp`` is on; a no-op context otherwise."""
    if not amp or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp_dtype == "bf16" else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def make_scaler(device: torch.device, amp: bool, amp_dtype: str):
    """A gradient scaler for fp16 autocast on CUDA, else None."""
    if amp and device.type == "cuda" and amp_dtype == "fp16":
        return torch.amp.GradScaler("cuda")
    return None


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: Any) -> None:
    """``loss.backward(); opt.step()``, through the gradient scaler when there is one."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def check_finite(values: dict[str, float], step: int, what: str, last_ckpt: Any) -> None:
    """Raise a CoinError naming the step and the first non-finite term in ``values``."""
    for name, value in values.items():
        if not math.isfinite(value):
            kept = (
                f"The last good checkpoint is {last_ckpt}." if last_ckpt else "No checkpoint was written yet."
            )
            raise CoinError(
                f"{what} stopped at step {step}: the loss term {name} is {value}. {kept}",
                "lower the learning rate or switch amp off in the config, then resume with --resume "
                "(it continues from the last good checkpoint).",
            )


class InterruptFlag:
    """Turn the first Ctrl-C into a flag checked between steps; a second Ctrl-C interrupts at once.

    Installed only in the main thread (signal handlers cannot be set elsewhere).
    """

    def __init__(self) -> None:
        self.raised = False
        self._old: Any = None

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
