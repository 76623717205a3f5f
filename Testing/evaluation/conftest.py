"""Fixtures for the evaluation tests: a fixed blob-detecting classifier and a hand-built BENCH."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_helpers import BlobDetector, OracleCounterfactualModel


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
