"""Building blocks shared by E, G and D: initialised (optionally spectrally normalised) layers,
conditional batch norm and up-sampling.

Initialisation follows docs/method.md §5: Xavier-uniform with gain √2 for the 3x3 residual-path convs,
gain 1 for the 1x1 shortcuts, the generator's output conv, D's linear layer and D's embedding.

Spectral normalisation uses ``torch.nn.utils.parametrizations.spectral_norm``: one power iteration
per forward in train mode, none in eval mode (docs/method.md §11.10), so evaluation does not depend on
call history.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

RESIDUAL_GAIN = math.sqrt(2.0)


def conv(
    cin: int,
    cout: int,
    kernel: int,
    *,
    bias: bool,
    sn: bool = False,
    gain: float = RESIDUAL_GAIN,
) -> nn.Module:
    """A same-padded conv with Xavier-uniform(gain) weights, optionally spectrally normalised."""
    layer = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    return spectral_norm(layer) if sn else layer


def linear(cin: int, cout: int, *, sn: bool = False, gain: float = 1.0) -> nn.Module:
    """A linear layer with Xavier-uniform(gain) weights, optionally spectrally normalised."""
    layer = nn.Linear(cin, cout)
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    return spectral_norm(layer) if sn else layer


def upsample(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Double the resolution: "nearest", or "bilinear" with align_corners=True (as the reference)."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ConditionalBatchNorm2d(nn.Module):
    """CBN(v, y) = γ_y ⊙ BN_noaffine(v) + β_y, with (γ, β) from an embedding of ``num_bins`` rows.

    γ is initialised N(1, 0.02) and β to 0 (docs/method.md §5.2).
    """

    def __init__(self, num_features: int, num_bins: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_bins, 2 * num_features)
        with torch.no_grad():
            self.embed.weight[:, :num_features].normal_(1.0, 0.02)
            self.embed.weight[:, num_features:].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` [B,C,H,W] and apply the affine of class ``y`` [B] (long)."""
        gamma, beta = self.embed(y).chunk(2, dim=1)
        out = self.bn(x)
        return gamma[:, :, None, None] * out + beta[:, :, None, None]


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (buffers such as BN statistics and SN vectors excluded)."""
    return sum(p.numel() for p in module.parameters())
