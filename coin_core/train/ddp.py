"""Multi-process training helpers (torchrun + DistributedDataParallel).

Launch with ``torchrun --nproc-per-node N -m coin_core train ...`` (add ``--nnodes`` and
``--rdzv-endpoint`` for several machines; the run folder must then be on a shared file system).
Each process trains on its own shard of every epoch (a ``DistributedSampler``), gradients are
averaged by DDP, and only rank 0 writes checkpoints, events and the model folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes in the environment (no-op without it).

    Uses NCCL for CUDA devices and gloo otherwise. Returns a single-process :class:`DistInfo` when
    ``WORLD_SIZE`` is unset or 1.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def current() -> DistInfo:
    """The :class:`DistInfo` of an already initialised process group (single process otherwise)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device of this process: ``cuda:<local_rank>`` under multi-GPU runs."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def wrap(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` when several processes take part, else ``module``."""
    if not info.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return getattr(module, "module", module)


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op in single-process runs)."""
    if info.enabled:
        dist.barrier()


def any_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when ``flag`` is True on any of them (stop requests, NaN)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shutdown(info: DistInfo) -> None:
    """Leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
