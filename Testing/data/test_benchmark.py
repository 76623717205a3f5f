"""BENCH folders built from a phantom nnU-Net dataset: splits, reproducibility, file format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coin_core.data.benchmark import (
    ARRAY_SPEC,
    SPLITS,
    SliceArrays,
    load_split,
    read_benchmark_json,
    save_split,
)
from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
from coin_core.data.lesions import LesionParams
from coin_core.data.phantom import write_phantom_dataset
from coin_core.errors import CoinError

CFG = BenchmarkConfig(
    size=64,
    draws={"train": 4, "val": 3, "test": 3},
    lesion=LesionParams(size=10),
    min_host_pixels=20,
)


@pytest.fixture(scope="module")
def one_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom1")
    write_phantom_dataset(root / "data", n_cases=1, shape=(20, 128, 128))
    meta = build_benchmark(root / "data", root / "bench", CFG)
    return root, meta


def _arrays_equal(a: SliceArrays, b: SliceArrays) -> None:
    for name in ARRAY_SPEC:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_single_case_splits_are_disjoint_blocks_with_a_gap(one_case):
    root, meta = one_case
    assert meta["single_patient"] is True
    assert meta == read_benchmark_json(root / "bench")
    ks = {s: set(load_split(root / "bench", s).slice_index.tolist()) for s in SPLITS}
    assert all(ks[s] for s in SPLITS)
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not ks[a] & ks[b]
                # gap=1: no slice of one split is the axial neighbour of a slice of another
                assert min(abs(x - y) for x in ks[a] for y in ks[b]) >= 2
    for s in SPLITS:
        blocks = meta["splits"][s]["slice_blocks"]
        covered = {k for a, b in blocks for k in range(a, b + 1)}
        assert covered == ks[s]
        assert meta["splits"][s]["slices"] == len(ks[s])


def test_arrays_follow_the_contract(one_case):
    root, meta = one_case
    for s in SPLITS:
        a = load_split(root / "bench", s)
        n = meta["splits"][s]["slices"] * CFG.draws[s]
        assert len(a) == n == meta["splits"][s]["samples"]
        assert a.image.shape == (n, 64, 64) and a.image.dtype == np.float16
        assert a.image.min() >= -1 and a.image.max() <= 1
        assert int(a.label.sum()) == meta["splits"][s]["abnormal"]
        has_lesion = a.lesion.reshape(n, -1).any(1)
        np.testing.assert_array_equal(has_lesion, a.label.astype(bool))
        assert a.host.reshape(n, -1).any(1).all() and a.has_mask.all()
        np.testing.assert_array_equal(a.draw, np.tile(np.arange(CFG.draws[s]), meta["splits"][s]["slices"]))
    assert meta["window"]["lo"] < 150 < meta["window"]["hi"]  # phantom kidney is 150 HU
    assert meta["lesions"]["size"] == 10 and meta["lesions"]["host_labels"] == [1]


def test_saved_test_set_reloads_bit_identically(one_case, tmp_path):
    root, _ = one_case
    a = load_split(root / "bench", "test")
    save_split(tmp_path, "test", a)
    _arrays_equal(a, load_split(tmp_path, "test"))
    with np.load(root / "bench" / "test.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert sorted(z.files) == sorted(ARRAY_SPEC)


def test_rebuilding_with_the_same_seed_gives_identical_arrays(one_case, tmp_path):
    root, meta = one_case
    again = build_benchmark(root / "data", tmp_path / "again", CFG)
    assert again["splits"] == meta["splits"] and again["window"] == meta["window"]
    for s in SPLITS:
        _arrays_equal(load_split(root / "bench", s), load_split(tmp_path / "again", s))
    other = build_benchmark(root / "data", tmp_path / "other", BenchmarkConfig(**{**CFG.__dict__, "seed": 1}))
    assert not np.array_equal(
        load_split(tmp_path / "other", "test").lesion, load_split(root / "bench", "test").lesion
    )
    assert other["splits"]["test"]["slices"] == meta["splits"]["test"]["slices"]


def test_load_split_resamples_once(one_case):
    root, _ = one_case
    a = load_split(root / "bench", "val")
    b = load_split(root / "bench", "val", size=32)
    assert b.image.shape == (len(a), 32, 32) and b.image.dtype == np.float16
    assert set(np.unique(b.lesion)) <= {0, 1}
    np.testing.assert_array_equal(b.label, a.label)


def test_refuses_to_overwrite_and_reports_bad_files(one_case, tmp_path):
    root, _ = one_case
    with pytest.raises(CoinError, match="not empty"):
        build_benchmark(root / "data", root / "bench", CFG)
    with pytest.raises(CoinError, match="not found"):
        load_split(tmp_path, "test")
    (tmp_path / "benchmark.json").write_text(json.dumps({"format": "coin-slices/9"}))
    with pytest.raises(CoinError, match="unknown format"):
        read_benchmark_json(tmp_path)
    with pytest.raises(CoinError, match="Unknown split"):
        load_split(root / "bench", "validation")
    with pytest.raises(CoinError, match="no label named"):
        build_benchmark(
            root / "data", tmp_path / "x", BenchmarkConfig(**{**CFG.__dict__, "host": ("pancreas",)})
        )


def test_real_lesion_slices_and_listed_slices_are_dropped(tmp_path):
    ds = write_phantom_dataset(
        tmp_path / "data",
        n_cases=3,
        shape=(12, 128, 128),
        lesions=1,
        lesion_radius_mm=(4.0, 5.0),
        lesion_label=4,
    )
    meta_path = tmp_path / "data" / "dataset.json"
    dj = json.loads(meta_path.read_text())
    dj["exclude_slices"] = {ds.cases[0].id: [0, 1]}
    meta_path.write_text(json.dumps(dj))
    meta = build_benchmark(tmp_path / "data", tmp_path / "bench", CFG)
    assert meta["single_patient"] is False
    assert meta["excluded"]["real_lesion_labels"] == {"lesion": 4}
    assert sum(meta["excluded"]["real_lesion_slices"].values()) >= 3
    split_cases = [set(meta["splits"][s]["cases"]) for s in SPLITS]
    assert set().union(*split_cases) == {c.id for c in ds.cases}
    assert sum(len(c) for c in split_cases) == 3  # every case in exactly one split
    from coin_core.io import read_volume, to_canonical

    for s in SPLITS:
        a = load_split(tmp_path / "bench", s)
        for ci, k in zip(a.case.tolist(), a.slice_index.tolist(), strict=True):
            lab = to_canonical(read_volume(ds.cases[ci].label)).array
            assert not (lab[k] == 4).any(), "a slice with a real lesion became a sample"
            assert not (ci == 0 and k in (0, 1)), "a listed slice became a sample"


def test_cli_prints_the_summary(one_case, tmp_path, capsys):
    from coin_core.cli.main import main

    root, _ = one_case
    rc = main(
        ["data", "synth-lesions", "--data", str(root / "data"), "--out", str(tmp_path / "b"), "--size", "32",
         "--draws-train", "1", "--draws-val", "1", "--draws-test", "1", "--lesion-size", "10",
         "--min-host-pixels", "20", "--hypodense"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "split" in out and "single-patient" in out
    meta = read_benchmark_json(tmp_path / "b")
    assert meta["lesions"]["alpha"] == -0.9 and meta["input_size"] == 32
    assert main(["data", "synth-lesions", "--data", str(root / "data"), "--out", str(tmp_path / "b")]) == 2


def test_window_command_saves_the_host_window(one_case, tmp_path, capsys):
    from coin_core.cli.main import main
    from coin_core.data.window import IntensityWindow

    root, _ = one_case
    out = tmp_path / "w.json"
    assert (
        main(["data", "window", "--data", str(root / "data"), "--labels", "kidney", "--out", str(out)]) == 0
    )
    w = IntensityWindow.load_json(out)
    assert json.loads(capsys.readouterr().out) == w.to_dict()
    assert w.lo < 150 < w.hi  # phantom kidney: 150 HU with 15 HU noise
