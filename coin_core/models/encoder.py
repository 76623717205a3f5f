"""Encoder E (docs/method.md §5.1): a stem then pre-activation residual down blocks.

``Encoder(x)`` returns the list [h_1, ..., h_n] of block outputs, shallowest first; h_n is the
bottleneck. For the ``paper`` preset at 256²: 64@128², 128@64², 256@32², 512@16², 1024@8².
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from coin_core.models.blocks import conv
from coin_core.models.config import EncoderConfig


class EncoderBlock(nn.Module):
    """EncBlock(h) = W1x1·AvgPool2(h) + W3x3'·ReLU(BN(W3x3·AvgPool2(ReLU(BN(h))))); no biases."""

    def __init__(self, cin: int, cout: int, sn_shortcut: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = conv(cin, cout, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3, bias=False)
        self.shortcut = conv(cin, cout, 1, bias=False, sn=sn_shortcut, gain=1.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Halve the resolution of ``h`` and map cin -> cout channels."""
        r = self.conv1(F.avg_pool2d(F.relu(self.bn1(h)), 2))
        r = self.conv2(F.relu(self.bn2(r)))
        return self.shortcut(F.avg_pool2d(h, 2)) + r


class Encoder(nn.Module):
    """Stem conv3x3 (no bias) -> ReLU -> BN, then one :class:`EncoderBlock` per width."""

    def __init__(self, cfg: EncoderConfig, in_channels: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        widths = tuple(int(w) for w in cfg.widths)
        self.stem_conv = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        nn.init.xavier_normal_(self.stem_conv.weight, gain=1.0)
        self.stem_bn = nn.BatchNorm2d(widths[0])
        cins = (widths[0],) + widths[:-1]
        self.blocks = nn.ModuleList(
            EncoderBlock(a, b, cfg.sn_shortcut) for a, b in zip(cins, widths, strict=True)
        )

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of h_1..h_n."""
        return tuple(int(w) for w in self.cfg.widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Map ``x`` [B,C,S,S] to the features [h_1, ..., h_n] (h_i at S / 2**i)."""
        h = self.stem_bn(F.relu(self.stem_conv(x)))
        feats = []
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return feats
