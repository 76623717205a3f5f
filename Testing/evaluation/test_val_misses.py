"""benchmarks/val_misses.py: the group of each abnormal sample's missed pixels (arrays written here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("val_misses", ROOT / "benchmarks" / "val_misses.py")
val_misses = importlib.util.module_from_spec(spec)
spec.loader.exec_module(val_misses)


def test_each_sample_lands_in_its_group_with_its_pixels():
    truth = np.zeros((4, 8, 8), bool)
    truth[:, 2:6, 2:6] = True  # 16 lesion pixels each
    pred = np.zeros_like(truth)
    pred[0, 2:6, 2:6] = True  # 0: not flipped, though marked: its pixels still count in its group
    pred[1, 0, 0:3] = True  # 1: flipped, marks 3 pixels away from the lesion
    pred[2, 3:5, 3:5] = True  # 2: flipped, the lesion's centre (4 of 16)
    pred[3, 2:6, 2:7] = True  # 3: flipped, the whole lesion plus a column (4 extra)
    flipped = np.array([False, True, True, True])
    res = val_misses.miss_breakdown(pred, truth, flipped)
    assert res["not flipped"] == {"samples": 1, "tp": 16, "fp": 0, "fn": 0}
    assert res["flipped, lesion unmarked"] == {"samples": 1, "tp": 0, "fp": 3, "fn": 16}
    assert res["flipped, lesion partly marked"] == {"samples": 2, "tp": 20, "fp": 4, "fn": 12}


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        val_misses.miss_breakdown(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), np.zeros(3))
