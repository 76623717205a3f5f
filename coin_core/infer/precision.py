"""Numeric precision for inference: which autocast dtype, and the channels_last layout.

``"auto"`` picks:

* CUDA: bfloat16 when the GPU supports it, else float16;
* CPU: bfloat16 when the CPU has native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in
  /proc/cpuinfo), else float32. Without native bf16 the autocast path is slower than float32;
* anything else (MPS): float32.

On CPU the networks and the inputs are put in ``channels_last`` layout in every precision: the
oneDNN convolutions are about 2.5x faster that way here even in float32 (see docs/benchmarks.md).
For bf16 on CPU, :func:`inference_model` also runs the networks on bfloat16 *copies* of their
weights (under autocast, so inputs, the classifier's logits and the final fusion with the input
stay float32): autocast alone re-casts the weights and runs batch norm in float32 on every call,
which here costs about a third of the gain. The caller's model is left in float32.
The bf16 outputs stay within the tolerance stated in docs/benchmarks.md of float32 (measured by
``benchmarks/segment_speed.py``); pass ``precision="fp32"`` to switch mixed precision off.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from pathlib import Path

from coin_core.errors import CoinError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU advertises bf16 instructions (Linux only; False elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in text or " amx_bf16" in text


def resolve_precision(precision: str, device) -> str:  # noqa: ANN001
    """Turn ``precision`` ("auto", "fp32", "bf16", "fp16") into a concrete one for ``device``."""
    import torch

    if precision not in PRECISIONS:
        raise CoinError(f"Unknown precision '{precision}'.", f"use one of: {', '.join(PRECISIONS)}.")
    kind = torch.device(device).type
    if precision == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if kind == "cpu":
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "fp32"
    if precision == "fp16" and kind == "cpu":
        raise CoinError("fp16 is not offered on CPU.", "use --precision bf16 or fp32 on CPU.")
    return precision


def autocast(precision: str, device):  # noqa: ANN001, ANN201
    """The autocast context for a resolved ``precision`` (a null context for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def use_channels_last(device) -> bool:  # noqa: ANN001
    """Whether inputs and networks should use the channels_last memory layout on ``device``."""
    import torch

    return torch.device(device).type in ("cpu", "cuda")


def inference_model(model, precision: str, device):  # noqa: ANN001, ANN201
    """The model to run: ``model`` itself, or for bf16 on CPU a shallow copy with bf16 networks."""
    import torch

    if precision != "bf16" or torch.device(device).type != "cpu":
        return model
    fast = copy.copy(model)
    for name in ("classifier", "encoder", "generator"):
        setattr(fast, name, copy.deepcopy(getattr(model, name)).to(torch.bfloat16))
    return fast
