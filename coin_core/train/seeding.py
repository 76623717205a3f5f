"""Seeding, deterministic mode, and RNG states as plain tensors + JSON (no pickle).

The states of Python's ``random``, NumPy's legacy global generator, torch's CPU generator and
every CUDA generator are captured as uint8 tensors (for a safetensors file) plus a small JSON
dict, and restored from the same two parts.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally make torch pick deterministic kernels.

    Args:
        seed: the seed.
        deterministic: call ``torch.use_deterministic_algorithms(True, warn_only=True)`` and switch
            cuDNN benchmarking off (bit-exact reruns on CPU; best effort on CUDA); when False,
            cuDNN benchmarking is switched on. :func:`restored_determinism` undoes both.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels


@contextlib.contextmanager
def restored_determinism() -> Iterator[None]:
    """Undo on exit what :func:`seed_everything` changed in torch's global deterministic flags."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The current RNG states as (tensors, json) parts."""
    tensors = {"rng/torch_cpu": torch.get_rng_state().clone()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state.clone()
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    tensors["rng/numpy_keys"] = torch.from_numpy(
        np.ascontiguousarray(keys, dtype=np.uint32).view(np.uint8).copy()
    )
    py_version, py_state, py_gauss = random.getstate()
    meta = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng` (CUDA states are restored for the devices present)."""
    torch.set_rng_state(tensors["rng/torch_cpu"].to(torch.uint8).cpu())
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            state = tensors.get(f"rng/cuda/{i}")
            if state is not None:
                torch.cuda.set_rng_state(state.cpu(), i)
    keys = tensors["rng/numpy_keys"].cpu().numpy().view(np.uint32)
    n = meta["numpy"]
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
