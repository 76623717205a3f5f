"""Fixtures for the evaluation tests: a fixed blob-detecting classifier and a hand-built BENCH."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
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


@pytest.fixture
def blob_detector() -> BlobDetector:
    return BlobDetector()


@pytest.fixture
def oracle_model() -> OracleCounterfactualModel:
    return OracleCounterfactualModel(32)


@pytest.fixture(scope="session")
def squares_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """A BENCH folder of 32x32 slices: noisy grey background, half of them with a bright 6x6 square."""
    from coin_core.data.benchmark import SliceArrays, save_split

    root = tmp_path_factory.mktemp("bench") / "squares"
    root.mkdir()
    rng = np.random.default_rng(0)
    for s, split in enumerate(("train", "val", "test")):
        n = 12
        image = -0.5 + 0.03 * rng.standard_normal((n, 32, 32))
        lesion = np.zeros((n, 32, 32), np.uint8)
        label = np.zeros(n, np.uint8)
        for i in range(0, n, 2):
            r, c = rng.integers(3, 23, size=2)
            lesion[i, r : r + 6, c : c + 6] = 1
            image[i][lesion[i] == 1] = 0.9
            label[i] = 1
        arrays = SliceArrays(
            image=image.astype(np.float16),
            label=label,
            lesion=lesion,
            has_mask=np.ones(n, np.uint8),
            host=np.ones((n, 32, 32), np.uint8),
            case=(np.arange(n) // 2) % 2 + 2 * s,
            slice_index=np.arange(n),
            draw=np.zeros(n),
        )
        save_split(root, split, arrays)
    return root
