"""Host masks computed from the CT (``--host body`` / ``--host lung``) and the slice sets built on them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coin_core.data.benchmark import SPLITS, load_split
from coin_core.data.hosts import body_mask, lung_mask, resolve_host, with_computed_host
from coin_core.data.nnunet import write_dataset_json, write_nnunet_case
from coin_core.data.prepare import PrepareConfig, prepare_dataset
from coin_core.errors import CoinError
from coin_core.io import Volume

SHAPE = (12, 64, 64)
SPACING = (5.0, 5.0, 5.0)


def _chest(seed: int = 0, nodule_k: tuple[int, ...] = (5, 6)) -> tuple[np.ndarray, np.ndarray]:
    """A chest-like (k, j, i) HU volume: body ellipse, two lungs, a nodule in the right lung, a table."""
    rng = np.random.default_rng(seed)
    k, j, i = np.mgrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    hu = np.full(SHAPE, -1000.0)
    body = ((j - 30) / 22.0) ** 2 + ((i - 32) / 28.0) ** 2 <= 1
    hu[body] = 40.0
    right = ((j - 28) / 12.0) ** 2 + ((i - 20) / 8.0) ** 2 <= 1
    left = ((j - 28) / 12.0) ** 2 + ((i - 44) / 8.0) ** 2 <= 1
    hu[right | left] = -850.0
    nodule = (((j - 28) / 3.0) ** 2 + ((i - 20) / 3.0) ** 2 <= 1) & np.isin(k, nodule_k)
    hu[nodule] = 30.0
    hu[:, 58:60, 5:59] = 200.0  # the table, apart from the body
    hu += rng.normal(0, 10, SHAPE)
    label = nodule.astype(np.uint8)
    return hu.astype(np.float32), label


def test_body_holds_the_lungs_and_not_the_table():
    hu, _ = _chest()
    body = body_mask(hu)
    assert body[:, 28, 20].all() and body[:, 28, 44].all()  # lungs filled in
    assert not body[:, 59, 30].any()  # the table is a smaller component
    assert not body[:, 2, 2].any()  # air outside
    assert 0.25 < body.mean() < 0.6


def test_lung_is_the_air_inside_the_body_with_the_nodule_filled_in():
    hu, label = _chest()
    lungs = lung_mask(hu, SPACING)
    assert lungs[:, 28, 16].all() and lungs[:, 28, 44].all()
    assert lungs[label > 0].all()  # the nodule is surrounded by lung: a hole, filled
    assert not lungs[:, 2, 2].any() and not lungs[:, 45, 32].any()  # outside air, soft tissue
    body = body_mask(hu)
    assert not (lungs & ~body).any()


def test_a_computed_host_stands_alone_and_a_real_label_wins():
    assert resolve_host({"background": 0, "tumour": 1}, ("body",)) == "body"
    assert resolve_host({"background": 0, "body": 1}, ("body",)) is None  # the dataset's own label
    assert resolve_host({"background": 0, "kidney": 1}, ("kidney",)) is None
    with pytest.raises(CoinError, match="cannot be combined"):
        resolve_host({"background": 0, "kidney": 1}, ("kidney", "lung"))


def test_with_computed_host_keeps_the_lesions_and_drops_other_organs():
    label = np.array([[[0, 1, 2, 3]]], np.uint8)  # 1 organ, 2 lesion, 3 another organ
    host = np.array([[[True, True, True, False]]])
    np.testing.assert_array_equal(with_computed_host(label, host, [2], 4), [[[4, 4, 2, 0]]])


def _write_chests(root, n: int) -> None:  # noqa: ANN001
    for c in range(n):
        hu, label = _chest(seed=c, nodule_k=(4 + c, 5 + c))
        vol = Volume(hu, SPACING, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
        write_nnunet_case(root, f"chest{c}", vol, vol.with_array(label))
    write_dataset_json(root, {"background": 0, "lung_tumour": 1})


@pytest.mark.parametrize("host", ["body", "lung"])
def test_prepare_with_a_computed_host_needs_no_organ_label(tmp_path, host):
    _write_chests(tmp_path / "raw", 3)
    meta = prepare_dataset(tmp_path / "raw", tmp_path / "b", PrepareConfig(host=(host,), size=32))
    assert meta["host"] == host and meta["host_labels"] == [2] and host in meta["host_computed"]
    assert meta["labels"]["lesion_labels"] == {"lung_tumour": 1}
    n_abnormal = 0
    for s in SPLITS:
        arr = load_split(tmp_path / "b", s)
        assert len(arr) == SHAPE[0]  # every slice shows the body / the lungs
        assert arr.host.any(axis=(1, 2)).all() and (arr.lesion <= arr.host).all()
        n_abnormal += int(arr.label.sum())
    assert n_abnormal == 6  # two nodule slices per case


def test_prepare_without_label_maps_uses_the_csv_and_the_body(tmp_path):
    raw = tmp_path / "raw"
    for c in range(3):
        hu, _ = _chest(seed=c)
        write_nnunet_case(raw, f"chest{c}", Volume(hu, SPACING, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)))
    write_dataset_json(raw, {"background": 0})
    csv = tmp_path / "labels.csv"
    csv.write_text("case,slice,label\n" + "".join(f"chest{c},{k},{int(k in (5, 6))}\n" for c in range(3)
                                                 for k in range(SHAPE[0])), encoding="utf-8")  # fmt: skip
    meta = prepare_dataset(raw, tmp_path / "b", PrepareConfig(host=("body",), labels_csv=csv, size=32))
    assert meta["labels"]["source"] == "csv" and all(c["label"] is None for c in meta["cases"])
    assert sum(meta["splits"][s]["abnormal"] for s in SPLITS) == 6
    # an organ the dataset lacks: the hint names the computed hosts
    with pytest.raises(CoinError, match="no label named 'kidney'") as err:
        prepare_dataset(raw, tmp_path / "c", PrepareConfig(host=("kidney",), labels_csv=csv, size=32))
    assert "--host body" in err.value.hint
    # with an organ label but a case without a label map: refused, naming the case
    write_dataset_json(raw, {"background": 0, "kidney": 1})
    with pytest.raises(CoinError, match="'chest0' .* has no label map"):
        prepare_dataset(raw, tmp_path / "c", PrepareConfig(host=("kidney",), labels_csv=csv, size=32))


def test_held_out_test_cases_and_slice_blocks_for_the_one_left(tmp_path):
    _write_chests(tmp_path / "raw", 2)
    cfg = PrepareConfig(host=("lung",), size=32, test_cases=("chest1",), fractions=(0.5, 0.5, 0.0),
                        block_order=("val", "train", "test"))  # fmt: skip
    meta = prepare_dataset(tmp_path / "raw", tmp_path / "b", cfg)
    assert meta["test_cases"] == ["chest1"]
    assert meta["splits"]["test"]["cases"] == ["chest1"]
    assert meta["splits"]["train"]["cases"] == meta["splits"]["val"]["cases"] == ["chest0"]
    val, train = (meta["splits"][s]["slice_blocks"] for s in ("val", "train"))
    assert val == [[0, 5]] and train == [[7, 11]]  # inferior block first, one slice gap
    with pytest.raises(CoinError, match="not in the dataset"):
        prepare_dataset(tmp_path / "raw", tmp_path / "c", PrepareConfig(host=("lung",), test_cases=("x",)))


def test_cli_prepare_host_lung(tmp_path, capsys):
    from coin_core.cli.main import main

    _write_chests(tmp_path / "raw", 3)
    argv = ["data", "prepare", "--data", str(tmp_path / "raw"), "--host", "lung", "--size", "32"]
    assert main([*argv, "--out", str(tmp_path / "b"), "--progress", "none"]) == 0
    assert "host: lung (labels [2])" in capsys.readouterr().out
    assert json.loads((tmp_path / "b" / "benchmark.json").read_text())["host_computed"].startswith("lung")
    # an organ name the dataset lacks and that cannot be computed: one clear error
    assert main([*argv, "--host", "kidney", "--out", str(tmp_path / "c"), "--progress", "none"]) == 2
    assert "no label named 'kidney'" in capsys.readouterr().err


def test_synth_lesions_on_the_body_of_cts_without_label_maps(tmp_path):
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
    from coin_core.data.lesions import LesionParams

    raw = tmp_path / "raw"
    for c in range(3):
        hu, _ = _chest(seed=c)
        write_nnunet_case(raw, f"chest{c}", Volume(hu, SPACING, (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)))
    write_dataset_json(raw, {"background": 0})
    cfg = BenchmarkConfig(host=("body",), size=32, draws={"train": 2, "val": 1, "test": 1},
                          lesion=LesionParams(size=6, p=1.0))  # fmt: skip
    meta = build_benchmark(raw, tmp_path / "b", cfg)
    assert meta["host"] == "body" and "body" in meta["host_computed"]
    arr = load_split(tmp_path / "b", "train")
    inside = (arr.lesion.astype(bool) & arr.host.astype(bool)).sum()
    assert arr.label.sum() > 0 and inside >= 0.9 * arr.lesion.sum() > 0  # pasted in the body (resized)
    with pytest.raises(CoinError, match="has no label map"):
        build_benchmark(raw, tmp_path / "c", BenchmarkConfig(host=("0",), size=32))
