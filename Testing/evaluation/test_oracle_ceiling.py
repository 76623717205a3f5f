"""benchmarks/oracle_ceiling.py: the perfect counterfactual's map, tuned on val, on a BENCH built in code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("oracle_ceiling", ROOT / "benchmarks" / "oracle_ceiling.py")
oracle_ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle_ceiling)


def _bench(root: Path, *, normals_differ: bool = False) -> Path:
    """Two source slices per split; each has two identical normal draws and two draws with a square."""
    from coin_core.data.benchmark import SliceArrays, save_split

    root.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        images, lesions, labels, slices = [], [], [], []
        for k in range(2):
            clean = -0.5 + 0.05 * rng.standard_normal((32, 32))
            for draw in range(4):
                lesion = np.zeros((32, 32), np.uint8)
                image = clean.copy()
                if draw >= 2:
                    r, c = rng.integers(4, 20, size=2)
                    lesion[r : r + 8, c : c + 8] = 1
                    image[lesion == 1] += 0.6
                elif normals_differ and draw == 1:
                    image = image + 0.1
                images.append(image), lesions.append(lesion), labels.append(int(draw >= 2)), slices.append(k)
        n = len(images)
        save_split(root, split, SliceArrays(
            image=np.stack(images).astype(np.float16), label=np.array(labels, np.uint8),
            lesion=np.stack(lesions), has_mask=np.ones(n, np.uint8), host=np.ones((n, 32, 32), np.uint8),
            case=np.zeros(n, np.int32), slice_index=np.array(slices, np.int32),
            draw=np.arange(n, dtype=np.int32),
        ))  # fmt: skip
    return root


def test_the_perfect_counterfactual_marks_exactly_the_lesion(tmp_path):
    maps, truth, pixel_mm = oracle_ceiling.oracle_maps(_bench(tmp_path / "b"), "val", 32)
    assert pixel_mm is None  # no benchmark.json: no pixel size, so no margin is tuned
    assert maps.shape == truth.shape == (4, 32, 32)
    assert np.all(maps[~truth] == 0) and np.all(np.abs(maps[truth] - 0.3) < 2e-3)


def test_normal_draws_that_differ_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="normal draws"):
        oracle_ceiling.oracle_maps(_bench(tmp_path / "b", normals_differ=True), "test", 32)
