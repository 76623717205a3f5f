"""Helpers shared by several test folders (a uniquely named module: every folder has its own conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():  # noqa: ANN201
    """Tiny networks run fastest on one thread (OpenMP spinning costs more on 2 shared cores).

    Autouse wherever it is imported (``from coin_testkit import one_torch_thread``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_tiny_model(folder: Path, seed: int = 0, threshold: float = 0.25, method: str = "coin") -> Path:
    """Write a 32x32-input model folder with seeded random weights (fast on CPU, output meaningless)."""
    from coin_core import modelfile
    from coin_core.data.window import IntensityWindow
    from coin_core.models import (
        ClassifierConfig,
        DiscriminatorConfig,
        EncoderConfig,
        GeneratorConfig,
        NetworkConfig,
        build_networks,
    )

    cfg = NetworkConfig(
        input_size=32,
        classifier=ClassifierConfig(base_width=4),
        encoder=EncoderConfig(widths=(4, 8, 8)),
        generator=GeneratorConfig(skips=(1, 2)),
        discriminator=DiscriminatorConfig(widths=(4, 8), scales=(2, 2)),
    )
    nets = build_networks(cfg, seed=seed)
    card = modelfile.ModelCard(
        method=method,
        architecture=cfg,
        input_size=32,
        window=IntensityWindow(-200.0, 400.0),
        threshold=threshold,
    )
    return modelfile.save_model(folder, card, nets.classifier, nets.encoder, nets.generator)
