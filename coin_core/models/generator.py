"""Decoder / generator G (docs/method.md §5.2): up blocks with conditional batch norm, encoder skips,
a one-channel head giving the perturbation r, and the fusion x_cf = fuse(x, r).

Usage::

    feats = encoder(x)                    # [h_1, ..., h_n]
    x_cf = generator(feats, y, x)         # y: [B] long condition bins (0 = "normal" for COIN)
    r = generator.residual(feats, y, x)   # the unbounded map before fusion (2 channels for "mask")
    x_cf, m = generator.forward_with_mask(feats, y, x)   # m: the inpainting mask ("mask" fusion)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from coin_core.errors import CoinError
from coin_core.models.blocks import ConditionalBatchNorm2d, conv, upsample
from coin_core.models.config import GeneratorConfig, check_fusion
from coin_core.models.subpixel import upsample_nearest_conv3x3

MASK_LOGIT_INIT = -4.0
"""Initial bias of the mask logit (fusion "mask"): σ(-4) = 0.018, so a new generator starts near
the identity and has to open the mask where the classifier asks for a change."""

SUBPIXEL_MIN_PIXELS = 256
"""Sub-pixel form only from 16 x 16 inputs up: below that oneDNN's 3x3 kernels on the up-sampled
map were faster than the 2x2 kernels here (paper widths, bf16, 1 thread: 8x8 input 20.8 ms vs
55.6 ms; 16x16 57.8 vs 43.1; 128x128 119.0 vs 30.0: ``benchmarks/subpixel_layers.py``)."""


def fuse(x: torch.Tensor | None, r: torch.Tensor, fusion: str) -> torch.Tensor:
    """Combine the input image ``x`` (in [-1, 1]) with the perturbation ``r``.

    Args:
        x: input image [B,1,S,S]; unused (may be None) for ``fusion="tanh"``.
        r: generator output of the same shape.
        fusion: ``clamp_add`` (clamp(x + r, -1, 1); identity at r = 0), ``tanh_add`` (tanh(x + r),
            the paper), ``add_tanh`` (clamp(x + tanh r, -1, 1); identity at r = 0), ``tanh``
            (tanh r, the original Singla et al. generator) or ``mask`` (r has two channels, the
            inpainted value logit and the mask logit: x + σ(r_m)·(tanh(r_c) - x)).

    Returns:
        x_cf in [-1, 1], same shape as ``x``.
    """
    return fuse_with_mask(x, r, fusion)[0]


def gaussian_blur(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``t`` [B,C,H,W] (standard deviation ``sigma`` pixels, edges replicated)."""
    if sigma <= 0:
        return t
    radius = max(1, int(math.ceil(3.0 * sigma)))
    grid = torch.arange(-radius, radius + 1, device=t.device, dtype=torch.float32)
    k = torch.exp(-0.5 * (grid / sigma) ** 2)
    k = (k / k.sum()).to(t.dtype)
    c = t.shape[1]
    t = F.pad(t, (radius, radius, radius, radius), mode="replicate")
    t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def fuse_with_mask(
    x: torch.Tensor | None, r: torch.Tensor, fusion: str, mask_blur: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`fuse` that also returns the inpainting mask m (``None`` unless ``fusion == "mask"``).

    ``mask_blur`` (pixels, "mask" fusion only): the mask and the fill are blurred before fusion."""
    check_fusion(fusion)
    if fusion == "tanh":
        return torch.tanh(r), None
    if x is None:
        raise CoinError(f"Fusion '{fusion}' needs the input image x, but x is None.")
    if fusion == "mask":
        c = gaussian_blur(torch.tanh(r[:, :1]), mask_blur)
        m = gaussian_blur(torch.sigmoid(r[:, 1:2]), mask_blur)
        return x + m * (c - x), m
    if fusion == "clamp_add":
        return torch.clamp(x + r, -1.0, 1.0), None
    if fusion == "tanh_add":
        return torch.tanh(x + r), None
    return torch.clamp(x + torch.tanh(r), -1.0, 1.0), None


class GeneratorBlock(nn.Module):
    """GenBlock(v, y) = W1x1·Up(v) + W3x3'·ReLU(CBN2(W3x3·Up(ReLU(CBN1(v, y))), y)); no biases."""

    def __init__(self, cin: int, cout: int, num_bins: int, sn_shortcut: bool, mode: str) -> None:
        super().__init__()
        self.mode = mode
        # False: conv1(Up(.)) as the reference code computes it (benchmarks' reference-style baseline)
        self.use_subpixel = True
        self.cbn1 = ConditionalBatchNorm2d(cin, num_bins)
        self.conv1 = conv(cin, cout, 3, bias=False)
        self.cbn2 = ConditionalBatchNorm2d(cout, num_bins)
        self.conv2 = conv(cout, cout, 3, bias=False)
        self.shortcut = conv(cin, cout, 1, bias=False, sn=sn_shortcut, gain=1.0)

    def forward(self, v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Double the resolution of ``v`` and map cin -> cout channels under condition ``y``."""
        a = F.relu(self.cbn1(v, y))
        if self.mode == "nearest" and self.use_subpixel and a.shape[-2] * a.shape[-1] >= SUBPIXEL_MIN_PIXELS:
            # the same linear map as conv1(Up(a)), at 16/36 of the multiply-adds (subpixel.py)
            r = upsample_nearest_conv3x3(a, self.conv1)
        else:
            r = self.conv1(upsample(a, self.mode))
        r = self.conv2(F.relu(self.cbn2(r, y)))
        # W1x1·Up(v) == Up(W1x1·v) (both linear, per-pixel / per-channel): cheaper at low resolution.
        return upsample(self.shortcut(v), self.mode) + r


class Generator(nn.Module):
    """Up blocks mirroring ``encoder_widths``; block j >= 1 concatenates h_{n-j} when j is a skip."""

    def __init__(self, cfg: GeneratorConfig, encoder_widths: tuple[int, ...], out_channels: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        enc = tuple(int(w) for w in encoder_widths)
        n = len(enc)
        self.skips = frozenset(int(s) for s in cfg.skips)
        outs = enc[::-1]
        blocks = []
        for j in range(n):
            cin = enc[-1] if j == 0 else outs[j - 1] + (enc[n - j - 1] if j in self.skips else 0)
            blocks.append(GeneratorBlock(cin, outs[j], cfg.num_bins, cfg.sn_shortcut, cfg.upsample))
        self.blocks = nn.ModuleList(blocks)
        self.head_bn = nn.BatchNorm2d(outs[-1])
        self.input_skip = bool(cfg.input_skip)
        head_in = outs[-1] + (out_channels if self.input_skip else 0)
        head_out = 2 * out_channels if cfg.fusion == "mask" else out_channels
        self.head_conv = conv(head_in, head_out, 3, bias=True, gain=1.0)
        if cfg.fusion == "mask":
            with torch.no_grad():
                self.head_conv.bias[out_channels:].fill_(MASK_LOGIT_INIT)

    @property
    def fusion(self) -> str:
        """The configured fusion name."""
        return self.cfg.fusion

    def residual(
        self, feats: list[torch.Tensor], y: torch.Tensor | int, x: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The unbounded map r from encoder features ``feats`` under condition ``y`` (one channel;
        two for the "mask" fusion). ``x`` is needed when the head sees the input (``input_skip``)."""
        n = len(self.blocks)
        if len(feats) != n:
            raise CoinError(f"Generator expects {n} encoder features, got {len(feats)}.")
        v = feats[-1]
        if not torch.is_tensor(y):
            y = torch.full((v.shape[0],), int(y), dtype=torch.long, device=v.device)
        for j, block in enumerate(self.blocks):
            if j > 0 and j in self.skips:
                v = torch.cat([v, feats[n - j - 1]], dim=1)
            v = block(v, y)
        h = F.relu(self.head_bn(v))
        if self.input_skip:
            if x is None:
                raise CoinError("This generator's head sees the input image (input_skip), but x is None.")
            h = torch.cat([h, x.to(h.dtype)], dim=1)
        return self.head_conv(h)

    def forward_with_mask(
        self, feats: list[torch.Tensor], y: torch.Tensor | int, x: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x_cf, m): the counterfactual and the inpainting mask (None unless fusion is "mask")."""
        return fuse_with_mask(x, self.residual(feats, y, x), self.cfg.fusion, float(self.cfg.mask_blur))

    def forward(
        self, feats: list[torch.Tensor], y: torch.Tensor | int, x: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The counterfactual x_cf = fuse(x, r) in [-1, 1] (``x`` may be None for fusion "tanh")."""
        return self.forward_with_mask(feats, y, x)[0]
