"""The fixed classifier and the oracle counterfactual model of the evaluation tests (known answers)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


class BlobDetector(nn.Module):
    """A fixed classifier whose logit grows with the area of bright (> 0.6) pixels.

    ``layer4`` (a 1x1 conv + ReLU at 1/4 resolution) has a bright-pixel channel that the head reads
    and a dark-pixel channel that it ignores, so a correct CAM must pick the first one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.MaxPool2d(4)
        self.layer4 = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU())
        self.fc = nn.Linear(2, 1)
        with torch.no_grad():
            self.layer4[0].weight.copy_(torch.tensor([10.0, -1.0]).view(2, 1, 1, 1))
            self.layer4[0].bias.copy_(torch.tensor([-6.0, 0.0]))
            self.fc.weight.copy_(torch.tensor([[300.0, 0.0]]))
            self.fc.bias.fill_(-4.0)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(self.stem(x)).mean(dim=(2, 3))).flatten()


class OracleCounterfactualModel:
    """CoinModel's interface with a known answer: the counterfactual paints bright pixels grey.

    ``classifier`` is a :class:`BlobDetector`; ``counterfactual`` replaces every pixel above 0.5
    by the background value -0.5, which removes exactly the bright squares of :func:`squares_bench`.
    """

    def __init__(self, size: int) -> None:
        self.card = SimpleNamespace(input_size=size, threshold=0.25, method="coin")
        self.classifier = BlobDetector()

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(x))

    def counterfactual(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0.5, torch.full_like(x, -0.5), x)
