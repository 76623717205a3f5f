"""Fixtures of the training tests: a tiny BENCH slice set built from the CT phantom, tiny configs."""

from __future__ import annotations

import pytest
from train_helpers import TINY_SIZE, build_phantom_bench, tiny_overrides

from coin_core.config import load_config


@pytest.fixture(autouse=True)
def one_torch_thread():  # noqa: ANN201
    """Tiny networks run fastest on one thread (OpenMP spinning costs more on 2 shared cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_config():  # noqa: ANN201
    """The small preset shrunk to 32x32 inputs and a few steps."""
    return load_config("small", tiny_overrides())


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """A BENCH folder at 32x32 from one phantom case (split in axial blocks)."""
    return build_phantom_bench(tmp_path_factory.mktemp("bench32"), TINY_SIZE)
