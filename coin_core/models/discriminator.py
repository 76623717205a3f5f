"""SN-ResNet projection discriminator D (docs/method.md §5.3).

Every conv and the linear layer are spectrally normalised and have a bias; no normalisation
layers; ReLU; AvgPool(2) down-sampling. D(x, y) = wᵀφ(x) + b + e_yᵀφ(x), φ = Σ_hw ReLU(features),
with an un-normalised class embedding e. Returns logits of shape [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from coin_core.models.blocks import conv, linear
from coin_core.models.config import DiscriminatorConfig


class DiscriminatorBlock(nn.Module):
    """Residual block; the first block has no pre-activation and always a learned shortcut."""

    def __init__(self, cin: int, cout: int, scale: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.scale = scale
        self.conv1 = conv(cin, cout, 3, bias=True, sn=True)
        self.conv2 = conv(cout, cout, 3, bias=True, sn=True)
        learned = first or cin != cout
        self.shortcut = conv(cin, cout, 1, bias=True, sn=True, gain=1.0) if learned else None

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(h, 2) if self.scale == 2 else h

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the block (down-sampling by ``scale``)."""
        r = h if self.first else F.relu(h)
        r = self._pool(self.conv2(F.relu(self.conv1(r))))
        # AvgPool(W1x1·h + b) == W1x1·AvgPool(h) + b, so the shortcut always pools first (cheaper).
        s = self._pool(h)
        return (s if self.shortcut is None else self.shortcut(s)) + r


class Discriminator(nn.Module):
    """Projection discriminator: blocks, global sum pooling, SN linear + class embedding."""

    def __init__(self, cfg: DiscriminatorConfig, in_channels: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        widths = tuple(int(w) for w in cfg.widths)
        cins = (in_channels,) + widths[:-1]
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(a, b, int(s), i == 0)
            for i, (a, b, s) in enumerate(zip(cins, widths, cfg.scales, strict=True))
        )
        self.linear = linear(widths[-1], 1, sn=True, gain=1.0)
        self.embed = nn.Embedding(cfg.num_bins, widths[-1])
        nn.init.xavier_uniform_(self.embed.weight, gain=1.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """φ(x): [B, widths[-1]] globally sum-pooled ReLU features."""
        h = x
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | int) -> torch.Tensor:
        """Logits [B] for images ``x`` [B,C,S,S] under condition bins ``y`` [B] (long) or an int."""
        phi = self.features(x)
        if not torch.is_tensor(y):
            y = torch.full((x.shape[0],), int(y), dtype=torch.long, device=x.device)
        return self.linear(phi).flatten() + (self.embed(y) * phi).sum(dim=1)
