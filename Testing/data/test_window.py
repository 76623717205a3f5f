"""Intensity window: exact normalisation values, inverse, JSON, and the streaming percentile fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from coin_core.data.phantom import make_phantom, write_phantom_dataset
from coin_core.data.window import IntensityWindow, compute_window
from coin_core.errors import CoinError


def test_normalize_matches_hand_computed_values():
    w = IntensityWindow(-100.0, 300.0)
    hu = np.array([-1000, -100, 0, 100, 200, 300, 2000], dtype=np.int16)
    x = w.normalize(hu)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0], atol=1e-6)


def test_denormalize_inverts_inside_the_window_and_saturates_outside():
    w = IntensityWindow(-57.5, 243.25)
    hu = np.linspace(-57.5, 243.25, 101)
    np.testing.assert_allclose(w.denormalize(w.normalize(hu)), hu, atol=1e-3)
    np.testing.assert_allclose(w.denormalize(w.normalize([-900.0, 900.0])), [-57.5, 243.25], atol=1e-4)


def test_torch_tensors_give_the_same_numbers():
    w = IntensityWindow(-100.0, 300.0)
    hu = torch.tensor([-500.0, 0.0, 100.0, 700.0])
    assert torch.allclose(w.normalize(hu), torch.tensor([-1.0, -0.5, 0.0, 1.0]))
    assert torch.allclose(w.denormalize(torch.tensor([-0.5, 0.5])), torch.tensor([0.0, 200.0]))


def test_json_round_trip_and_errors_name_the_file(tmp_path):
    w = IntensityWindow(-12.5, 250.0)
    w.save_json(tmp_path / "window.json")
    assert IntensityWindow.load_json(tmp_path / "window.json") == w
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lo": 10, "hi": 5}))
    with pytest.raises(CoinError, match="bad.json.*lo < hi"):
        IntensityWindow.load_json(bad)
    bad.write_text('{"lo": "NaN", "hi": 5}')
    with pytest.raises(CoinError, match="bad.json.*finite"):
        IntensityWindow.load_json(bad)
    bad.write_text('{"hi": 5}')
    with pytest.raises(CoinError, match="bad.json"):
        IntensityWindow.load_json(bad)
    with pytest.raises(CoinError, match="lo < hi"):
        IntensityWindow(3.0, 3.0)


def _cases(n=3, **kw):
    for s in range(n):
        img, lab, _ = make_phantom(shape=(12, 48, 48), seed=s, **kw)
        yield img.array, lab.array


def test_compute_window_equals_percentiles_of_all_foreground_voxels():
    fg = np.concatenate([img[np.isin(lab, [1, 2])] for img, lab in _cases()])
    want = np.percentile(fg, [0.5, 99.5])
    w = compute_window(_cases(), foreground_labels=[1, 2], max_voxels_per_case=10**9)
    np.testing.assert_allclose([w.lo, w.hi], want, rtol=1e-5)
    # every requested label counts (the original script dropped the last one)
    w_kidney = compute_window(_cases(), foreground_labels=[1], max_voxels_per_case=10**9)
    assert (w_kidney.lo, w_kidney.hi) != (w.lo, w.hi)
    assert w_kidney.lo > w.lo  # the liver (60 HU) pulls the low end down


def test_compute_window_with_sampling_is_close_and_reproducible():
    fg = np.concatenate([img[lab == 1] for img, lab in _cases()])
    want = np.percentile(fg, [0.5, 99.5])
    w1 = compute_window(_cases(), [1], max_voxels_per_case=500, seed=7)
    w2 = compute_window(_cases(), [1], max_voxels_per_case=500, seed=7)
    assert w1 == w2
    np.testing.assert_allclose([w1.lo, w1.hi], want, atol=15.0)  # noise sigma is 15 HU


def test_compute_window_streams_one_case_at_a_time():
    produced = []

    def gen():
        for i, case in enumerate(_cases(4)):
            produced.append(i)
            yield case

    seen = []
    compute_window(gen(), [1], progress=lambda ev: seen.append((ev.done, len(produced))))
    # when case n is reported, the generator has produced exactly n cases: nothing is read ahead
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_compute_window_reads_file_pairs(tmp_path):
    ds = write_phantom_dataset(tmp_path / "ds", n_cases=2, shape=(8, 32, 32), seed=3)
    w = compute_window([(c.image, c.label) for c in ds.cases], [1], max_voxels_per_case=10**9)
    parts = []
    for s in (3, 4):  # the writer uses seeds seed, seed + 1 and stores HU as int16
        img, lab, _ = make_phantom(shape=(8, 32, 32), seed=s)
        parts.append(np.round(img.array)[lab.array == 1])
    np.testing.assert_allclose([w.lo, w.hi], np.percentile(np.concatenate(parts), [0.5, 99.5]), rtol=1e-6)


def test_compute_window_errors():
    with pytest.raises(CoinError, match="no voxel"):
        compute_window(_cases(1), [9])
    with pytest.raises(CoinError, match="no cases"):
        compute_window(iter([]), [1])
    with pytest.raises(CoinError, match="shape"):
        compute_window([(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))], [1])
