"""Fixtures of the training tests: a tiny BENCH slice set built from the CT phantom, tiny configs."""

from __future__ import annotations

import pytest
from coin_testkit import one_torch_thread  # noqa: F401 (an autouse fixture)
from train_helpers import TINY_SIZE, build_phantom_bench, tiny_overrides

from coin_core.config import load_config


@pytest.fixture
def tiny_config():  # noqa: ANN201
    """The small preset shrunk to 32x32 inputs and a few steps."""
    return load_config("small", tiny_overrides())


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """A BENCH folder at 32x32 from one phantom case (split in axial blocks)."""
    return build_phantom_bench(tmp_path_factory.mktemp("bench32"), TINY_SIZE)
