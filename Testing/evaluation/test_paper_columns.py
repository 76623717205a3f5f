"""The paper's TotalSegmentator columns appear only where the BENCH is the paper's kind of benchmark.

Both kinds of slice set are built here from the same phantom CTs: synthetic bright blobs pasted into the
kidney (``coin data synth-lesions``) and the phantoms' own lesion label as real slice labels (``coin data
prepare``). ``coin evaluate`` runs on each; the decision comes from each BENCH's benchmark.json.
"""

from __future__ import annotations

import json

import pytest

from coin_core.cli.main import main
from coin_core.data.benchmark import read_benchmark_json
from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
from coin_core.data.lesions import LesionParams
from coin_core.data.phantom import write_phantom_dataset
from coin_core.data.prepare import PrepareConfig, prepare_dataset
from coin_core.evaluation.paper_match import PAPER_TSM, paper_columns
from coin_core.evaluation.report import markdown_table

SYNTH = BenchmarkConfig(
    size=32, draws={"train": 1, "val": 2, "test": 2}, min_host_pixels=8, lesion=LesionParams(size=6, p=1.0)
)
PAPER_HEADER = "| paper IoU | paper CV | paper FID |"


@pytest.fixture(scope="module")
def raw(tmp_path_factory):  # noqa: ANN001, ANN201
    """Three 12 x 64 x 64 phantoms with real lesions labelled 4 ("lesion")."""
    root = tmp_path_factory.mktemp("paper_cols") / "raw"
    write_phantom_dataset(root, n_cases=3, shape=(12, 64, 64), lesions=2, lesion_label=4)
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):  # noqa: ANN001, ANN201
    from coin_testkit import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("paper_cols_model") / "coin", seed=0)


def _evaluate(model, bench, out, capsys) -> tuple[dict, str, str]:  # noqa: ANN001
    argv = ["evaluate", "--model", str(model), "--data", str(bench), "--split", "test", "--methods",
            "coin,gradcam", "--max-val-slices", "4", "--bootstrap-resamples", "50", "--device", "cpu",
            "--out", str(out), "--progress", "none"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text(), printed


def _header(table: str) -> list[str]:
    line = next(x for x in table.splitlines() if x.startswith("| Method |"))
    return [c.strip() for c in line.split("|")[1:-1]]


def test_synthetic_blobs_in_an_organ_get_the_paper_columns(raw, model, tmp_path, capsys):
    build_benchmark(raw, tmp_path / "bench", SYNTH)
    assert "lesions" in read_benchmark_json(tmp_path / "bench")
    data, table, printed = _evaluate(model, tmp_path / "bench", tmp_path / "res", capsys)
    assert data["paper_columns"] is True and "synthetic bright Gaussian-blob" in data["paper_columns_why"]
    for text in (table, printed):
        assert PAPER_HEADER in text
        header = _header(text)
        coin = next(x for x in text.splitlines() if x.startswith("| COIN |"))
        cells = [c.strip() for c in coin.split("|")[1:-1]]
        assert len(cells) == len(header)
        assert cells[header.index("paper IoU")] == f"{PAPER_TSM['coin']['iou']:.3f}"
    assert "Paper columns: Shvetsov et al. 2024" in table


def test_real_lesions_never_get_the_paper_columns(raw, model, tmp_path, capsys):
    prepare_dataset(raw, tmp_path / "bench", PrepareConfig(size=32, min_host_pixels=8))
    meta = read_benchmark_json(tmp_path / "bench")
    assert meta["kind"] == "real-labels" and "lesions" not in meta
    data, table, printed = _evaluate(model, tmp_path / "bench", tmp_path / "res", capsys)
    assert data["paper_columns"] is False and "real-labels" in data["paper_columns_why"]
    for text in (table, printed):
        header = _header(text)
        assert not {"paper IoU", "paper CV", "paper FID"} & set(header), header
        # none of the paper's figures is printed anywhere in a row
        for line in text.splitlines():
            if line.startswith("| ") and "---" not in line:
                cells = [c.strip() for c in line.split("|")[1:-1]]
                assert len(cells) == len(header)
                assert not {"0.646", "0.997", "0.003", "0.445", "0.998", "0.047", "0.397"} & set(cells[-3:])
        assert "The paper's columns (Shvetsov et al. 2024, Table 1, TotalSegmentator (synthetic)) are " \
            "left out: the BENCH's lesions are not synthetic blobs" in text  # fmt: skip


def test_hypodense_blobs_and_a_computed_host_are_not_the_papers_benchmark(raw, tmp_path):
    hypo = BenchmarkConfig(**{**SYNTH.__dict__, "lesion": LesionParams(size=6, p=1.0, alpha=-0.9)})
    build_benchmark(raw, tmp_path / "hypo", hypo)
    show, why = paper_columns(tmp_path / "hypo")
    assert not show and "hypodense (alpha -0.9)" in why
    body = BenchmarkConfig(**{**SYNTH.__dict__, "host": ("body",)})
    build_benchmark(raw, tmp_path / "body", body)
    assert read_benchmark_json(tmp_path / "body").get("host_computed")
    show, why = paper_columns(tmp_path / "body")
    assert not show and "computed from the CT" in why
    show, why = paper_columns(tmp_path / "nothing")
    assert not show and "unknown" in why and "benchmark.json" in why


def test_results_that_do_not_record_the_decision_get_no_paper_columns():
    results = {"methods": {"coin": {"kind": "counterfactual", "method": "coin", "label": "COIN"}}}
    table = markdown_table(results)
    assert "paper IoU" not in table and "do not record whether the BENCH matches" in table
    shown = markdown_table({**results, "paper_columns": True, "paper_columns_why": "test"})
    assert PAPER_HEADER in shown and "| COIN |" in shown and "| 0.646 | 0.997 | 0.003 |" in shown
