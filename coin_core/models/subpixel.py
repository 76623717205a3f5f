"""Nearest ×2 up-sampling followed by a 3x3 convolution, computed at the low resolution.

``conv3x3(Up_nearest(v))`` is exactly a set of four 2x2 convolutions of ``v`` (one per output
phase (a, b) in {0, 1}², the "sub-pixel" form): for output row 2i + a the three kernel rows read
low-resolution rows (i - 1, i, i) when a = 0 and (i, i, i + 1) when a = 1, so kernel rows 1 and 2
(a = 0) or 0 and 1 (a = 1) merge into one; the same holds for columns. Zero padding of the
up-sampled image is zero padding of ``v``. The four 2x2 kernels run as ONE convolution with
4·C_out output channels over ``v`` padded by one pixel, and the phases are interleaved back.

Cost: 16 instead of 36 multiply-adds per input channel, output channel and output pixel (2.25x
fewer) and no up-sampled copy of ``v``. It is the same linear map as the reference's
``conv(upsample(v))``: outputs differ only by floating-point summation order (about 1e-6
relative in fp32; ``Testing/models/test_subpixel.py``), trained weights load unchanged, and the
gradients w.r.t. ``v`` and the 3x3 weight are those of the reference form (the merge is linear).

Under ``torch.no_grad`` / ``inference_mode`` the merged kernel is cached per weight version.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def merge_kernel(w: torch.Tensor) -> torch.Tensor:
    """[O, I, 3, 3] -> [4·O, I, 2, 2]: the four phase kernels, output channels ordered (a, b, o)."""
    rows = (
        torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], dim=2),  # a = 0: rows (i-1, i)
        torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], dim=2),  # a = 1: rows (i, i+1)
    )
    phases = []
    for r in rows:
        phases.append(torch.stack([r[..., 0], r[..., 1] + r[..., 2]], dim=-1))  # b = 0
        phases.append(torch.stack([r[..., 0] + r[..., 1], r[..., 2]], dim=-1))  # b = 1
    return torch.cat(phases, dim=0)


def _cached_kernel(conv: nn.Conv2d, w: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and w.requires_grad:
        return merge_kernel(w)
    key = (w.data_ptr(), w._version, w.dtype, w.device, tuple(w.shape))
    cache = getattr(conv, "_coin_subpixel_cache", None)
    if cache is None or cache[0] != key:
        with torch.no_grad():
            # merged in float32: bf16 / fp16 weights get one rounding, not one per addition
            wide = w if w.dtype in (torch.float32, torch.float64) else w.float()
            cache = (key, merge_kernel(wide).to(w.dtype))
        # a plain attribute, not a buffer: never saved with the weights
        object.__setattr__(conv, "_coin_subpixel_cache", cache)
    return cache[1]


def supports_subpixel(conv: nn.Module) -> bool:
    """True for a 3x3, stride-1, padding-1, dilation-1, ungrouped, zero-padded ``nn.Conv2d``."""
    return (
        isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def upsample_nearest_conv3x3(v: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(F.interpolate(v, scale_factor=2, mode="nearest"))`` computed at v's resolution.

    Args:
        v: [B, I, H, W] input (any memory format; the output keeps channels_last if ``v`` has it).
        conv: a layer for which :func:`supports_subpixel` is True (spectral norm allowed: its
            ``weight`` is read as usual).

    Returns:
        [B, O, 2H, 2W].
    """
    w = conv.weight
    o = w.shape[0]
    b, _, h, wd = v.shape
    k = _cached_kernel(conv, w)
    bias = None if conv.bias is None else conv.bias.repeat(4)
    y = F.conv2d(F.pad(v, (1, 1, 1, 1)), k, bias)  # [B, 4·O, H+1, W+1], channels (a, b, o)
    y = y.permute(0, 2, 3, 1).reshape(b, h + 1, wd + 1, 2, 2, o)  # NHWC view when y is channels_last
    # one pass: out[b, 2i + a, 2j + c, o] = y[b, i + a, j + c, a, c, o], written NHWC
    out = y.new_empty((b, h, 2, wd, 2, o))
    for a in (0, 1):
        for c in (0, 1):
            out[:, :, a, :, c] = y[:, a : a + h, c : c + wd, a, c]
    out = out.view(b, 2 * h, 2 * wd, o).permute(0, 3, 1, 2)  # channels_last NCHW view
    if v.is_contiguous(memory_format=torch.channels_last):
        return out
    return out.contiguous()
