"""`coin data prepare`: slice sets from REAL labels (lesion masks or a slice-label CSV)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coin_core.cli.main import main
from coin_core.data.benchmark import SPLITS, load_split, read_benchmark_json
from coin_core.data.labels import filter_slices
from coin_core.data.phantom import write_phantom_dataset
from coin_core.data.prepare import PrepareConfig, prepare_dataset
from coin_core.data.slices import plan_slice, to_model
from coin_core.errors import CoinError
from coin_core.io import read_volume, to_canonical

SIZE = 32
SHAPE = (16, 64, 64)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):  # noqa: ANN001, ANN201
    """Three phantom cases with random lesions labelled 4 ("lesion") in the label maps."""
    root = tmp_path_factory.mktemp("prep") / "raw"
    write_phantom_dataset(root, n_cases=3, shape=SHAPE, lesions=2, lesion_label=4)
    return root


def _canonical_labels(raw, case_id):  # noqa: ANN001, ANN202
    return to_canonical(read_volume(raw / "labelsTr" / f"{case_id}.nii.gz")).array


def _all(bench):  # noqa: ANN001, ANN202
    return {s: load_split(bench, s) for s in SPLITS}


@pytest.mark.parametrize("min_lesion", [0, 10])
def test_labels_and_masks_come_from_the_real_lesion_labels(raw, tmp_path, min_lesion):
    cfg = PrepareConfig(size=SIZE, min_host_pixels=20, min_lesion_pixels=min_lesion)
    meta = prepare_dataset(raw, tmp_path / "b", cfg)
    assert meta["kind"] == "real-labels" and meta["labels"]["lesion_labels"] == {"lesion": 4}
    assert read_benchmark_json(tmp_path / "b")["kind"] == "real-labels"
    splits = _all(tmp_path / "b")
    ids = [c["id"] for c in meta["cases"]]
    n_abnormal = 0
    for name, arr in splits.items():
        assert np.all(arr.has_mask == 1) and np.all(arr.draw == 0)
        assert meta["splits"][name]["samples"] == len(arr) == meta["splits"][name]["slices"]
        for ci in np.unique(arr.case):
            lab = _canonical_labels(raw, ids[ci])
            rows = np.flatnonzero(arr.case == ci)
            ks = arr.slice_index[rows]
            # every host slice (host = kidney + its lesion) of the case is there, in order
            assert ks.tolist() == filter_slices(lab, [1, 4], 20).tolist()
            want = ((lab[ks] == 4).sum(axis=(1, 2)) > min_lesion).astype(np.uint8)
            assert arr.label[rows].tolist() == want.tolist()
            geom = plan_slice(lab.shape[1:], SIZE)
            assert np.array_equal(arr.lesion[rows], to_model((lab[ks] == 4).astype(np.uint8), geom, "mask"))
        n_abnormal += int(arr.label.sum())
    assert 0 < n_abnormal < sum(len(a) for a in splits.values())
    cases = [set(meta["splits"][s]["cases"]) for s in SPLITS]
    assert all(cases) and not (cases[0] & cases[1] or cases[0] & cases[2] or cases[1] & cases[2])


def test_one_case_is_split_in_disjoint_slice_blocks(tmp_path):
    write_phantom_dataset(tmp_path / "raw", n_cases=1, shape=(24, 64, 64), lesions=2, lesion_label=4)
    meta = prepare_dataset(tmp_path / "raw", tmp_path / "b", PrepareConfig(size=SIZE, min_host_pixels=20))
    assert meta["single_patient"]
    ks = [set(load_split(tmp_path / "b", s).slice_index.tolist()) for s in SPLITS]
    assert all(ks) and not (ks[0] & ks[1] or ks[0] & ks[2] or ks[1] & ks[2])
    # a gap of one slice between blocks
    assert min(abs(a - b) for x, y in ((0, 1), (0, 2), (1, 2)) for a in ks[x] for b in ks[y]) >= 2


def test_labels_from_a_csv_have_no_masks(raw, tmp_path):
    rng = np.random.default_rng(0)
    rows, want = ["case,slice,label"], {}
    for case in ("phantom_000", "phantom_001", "phantom_002"):
        ks = filter_slices(_canonical_labels(raw, case), [1], 20)[:-1]  # the last host slice stays unlisted
        for k in ks:
            want[(case, int(k))] = int(rng.integers(0, 2))
            rows.append(f"{case},{k},{want[(case, int(k))]}")
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    meta = prepare_dataset(raw, tmp_path / "b", PrepareConfig(size=SIZE, min_host_pixels=20, labels_csv=csv))
    assert meta["labels"]["source"] == "csv" and meta["labels"]["lesion_labels"] == {}
    ids = [c["id"] for c in meta["cases"]]
    got = {}
    for arr in _all(tmp_path / "b").values():
        assert np.all(arr.has_mask == 0) and not arr.lesion.any() and arr.host.any()
        got.update(
            {(ids[c], int(k)): int(y) for c, k, y in zip(arr.case, arr.slice_index, arr.label, strict=True)}
        )
    assert got == want


@pytest.mark.parametrize(
    "text, match",
    [
        ("case,slice,label\nphantom_000,3,2\n", "label must be 0 or 1"),
        ("case,slice,label\nnobody,3,1\n", "unknown case"),
        ("case,slice,label\nphantom_000,99,1\n", "out of range"),
        ("case,label\nphantom_000,1\n", "lacks column"),
    ],
)
def test_a_bad_csv_is_refused_and_nothing_is_written(raw, tmp_path, text, match):
    csv = tmp_path / "bad.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(CoinError, match=match):
        prepare_dataset(raw, tmp_path / "b", PrepareConfig(size=SIZE, labels_csv=csv))
    assert not (tmp_path / "b").exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_no_lesion_label_or_both_sources_are_refused(tmp_path, raw):
    write_phantom_dataset(tmp_path / "plain", n_cases=1, shape=SHAPE)
    with pytest.raises(CoinError, match="no lesion label"):
        prepare_dataset(tmp_path / "plain", tmp_path / "b", PrepareConfig(size=SIZE))
    with pytest.raises(CoinError, match="not both"):
        prepare_dataset(raw, tmp_path / "b", PrepareConfig(lesion_labels=("lesion",), labels_csv="x.csv"))
    with pytest.raises(CoinError, match="no label named 'tumor'"):
        prepare_dataset(raw, tmp_path / "b", PrepareConfig(lesion_labels=("tumor",)))


def test_cli_prints_the_summary_and_coin_train_runs_on_the_result(raw, tmp_path, capsys):
    import torch
    import yaml

    from coin_core.config import load_config

    bench = tmp_path / "bench"
    argv = ["data", "prepare", "--data", str(raw), "--host", "kidney", "--lesion-labels", "lesion"]
    assert main([*argv, "--min-host-pixels", "20", "--size", str(SIZE), "--out", str(bench)]) == 0
    out = capsys.readouterr().out
    assert "split  slices  samples  abnormal  normal" in out and "lesion labels {'lesion': 4}" in out
    assert json.loads((bench / "benchmark.json").read_text())["input_size"] == SIZE
    assert main([*argv, "--out", str(bench)]) == 2  # not empty, no --overwrite
    over = {
        "model": {
            "input_size": SIZE,
            "classifier": {"base_width": 4},
            "encoder": {"widths": [4, 8, 8]},
            "generator": {"skips": [1, 2]},
            "discriminator": {"widths": [4, 8], "scales": [2, 2]},
        },
        "gan.batch_size": 4,
        "gan.log_every": 1,
        "gan.val_max_batches": 1,
        "classifier.batch_size": 4,
        "classifier.epochs": 1,
        "classifier.steps_per_epoch": 2,
        "classifier.val_max_batches": 1,
        "amp": False,
        "num_workers": 0,
    }
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(load_config("small", over).to_dict()), encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = ["train", "--data", str(bench), "--out", str(tmp_path / "run"), "--config", str(cfg)]
        assert main([*run, "--device", "cpu", "--no-progress", "--max-steps", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert card["validation_metrics"]["gan_steps"] == 2
