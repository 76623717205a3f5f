"""Classifier f: ResNet-18 (He et al.) in plain torch, ``in_channels`` inputs and one logit.

Same layout and initialisation as torchvision's ``resnet18`` (no pretrained weights: the reference
sums ImageNet RGB filters into one channel, which we cannot download). With base width 64 it has
11.17 M parameters. ``layer4`` is a plain attribute (the CAM target layer, 8 x base_width channels
at S/32) and :meth:`ResNet18Classifier.features` gives the penultimate features used for a
Fréchet distance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_STAGES = ("layer1", "layer2", "layer3", "layer4")


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and an identity (or 1x1 conv + BN) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block forward."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet18Classifier(nn.Module):
    """ResNet-18 with a single-logit head: ``forward(x)`` -> [B] logits of P(abnormal)."""

    def __init__(self, base_width: int = 64, in_channels: int = 1) -> None:
        super().__init__()
        w = int(base_width)
        self.base_width = w
        self.conv1 = nn.Conv2d(in_channels, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.layer1 = self._layer(w, w, 1)
        self.layer2 = self._layer(w, 2 * w, 2)
        self.layer3 = self._layer(2 * w, 4 * w, 2)
        self.layer4 = self._layer(4 * w, 8 * w, 2)
        self.fc = nn.Linear(8 * w, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _layer(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))

    @property
    def num_features(self) -> int:
        """Width of :meth:`features` (512 for base width 64)."""
        return 8 * self.base_width

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The ``layer4`` output [B, 8·base_width, S/32, S/32] (the CAM target)."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [B, 8·base_width] (global average pool of ``layer4``)."""
        return self.feature_map(x).mean(dim=(2, 3))

    def pooled_layers(
        self, x: torch.Tensor, names: tuple[str, ...]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits [B] and the global average pools [B, C] of the residual stages ``names``, one pass.

        ``names`` are stage names ("layer1" ... "layer4"); the anatomy gate (docs/anatomy_gate.md)
        measures how far a slice lies from the training slices in these features.
        """
        unknown = [n for n in names if n not in _STAGES]
        if unknown:
            raise ValueError(f"unknown classifier stage(s) {unknown}; use {list(_STAGES)}")
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        pooled = {}
        for name in _STAGES:
            h = getattr(self, name)(h)
            if name in names:
                pooled[name] = h.mean(dim=(2, 3))
        return self.fc(h.mean(dim=(2, 3))).flatten(), [pooled[n] for n in names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B] for images ``x`` [B,C,S,S] in [-1, 1]."""
        return self.fc(self.features(x)).flatten()
