"""``coin evaluate`` end to end: a tiny BENCH from phantom slices and tiny random model folders."""

from __future__ import annotations

import json

import pytest

from coin_core.cli.main import main


@pytest.fixture(scope="module")
def phantom_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """A BENCH folder built by the benchmark writer from three 12 x 64 x 64 phantoms."""
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
    from coin_core.data.lesions import LesionParams
    from coin_core.data.phantom import write_phantom_dataset

    root = tmp_path_factory.mktemp("phantom_bench")
    write_phantom_dataset(root / "raw", n_cases=3, shape=(12, 64, 64))
    cfg = BenchmarkConfig(
        size=32,
        draws={"train": 1, "val": 2, "test": 2},
        min_host_pixels=8,
        lesion=LesionParams(size=6, p=1.0),
    )
    build_benchmark(root / "raw", root / "bench", cfg)
    return root / "bench"


def _model_folder(path, seed: int, method: str = "coin"):  # noqa: ANN001, ANN202
    from coin_testkit import make_tiny_model

    return make_tiny_model(path, seed=seed, method=method)


def test_coin_evaluate_writes_results_json_and_markdown_for_all_methods(phantom_bench, tmp_path, capsys):
    coin = _model_folder(tmp_path / "coin", seed=0)
    singla = _model_folder(tmp_path / "singla", seed=1, method="singla")
    out = tmp_path / "results"
    argv = ["evaluate", "--model", str(coin), "--data", str(phantom_bench), "--split", "test",
            "--methods", "coin,singla,rise,scorecam,layercam,gradcam", "--singla-model", str(singla),
            "--rise-masks", "16", "--max-val-slices", "4", "--device", "cpu", "--out", str(out),
            "--progress", "none"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert data["format"] == "coin-evaluation/2" and data["split"] == "test"
    assert data["model"] == str(coin) and data["singla_model"] == str(singla)
    assert data["n_scored_slices"] > 0 and data["input_size"] == 32
    assert list(data["methods"]) == ["coin", "singla", "rise", "scorecam", "layercam", "gradcam",
                                     "host_organ", "gated_host_organ"]  # fmt: skip
    for m in data["methods"].values():
        assert {"micro_iou", "mean_case_dice", "threshold", "paper_micro_iou", "cv", "fd_classifier"} <= set(
            m
        )
        assert m["micro_iou"] is None or 0.0 <= m["micro_iou"] <= 1.0
    assert data["methods"]["coin"]["fd_classifier"] is not None
    assert set(data["methods"]["coin"]["per_case"]) <= {"phantom_000", "phantom_001", "phantom_002"}
    table = (out / "results.md").read_text()
    assert "| COIN |" in table and "| Grad-CAM |" in table
    assert "| COIN |" in printed and str(out / "results.json") in printed
    # a second run refuses to overwrite, and leaves the files as they were
    assert main(argv) == 2
    assert json.loads((out / "results.json").read_text()) == data


def test_coin_evaluate_names_a_missing_bench_split(tmp_path, capsys):
    coin = _model_folder(tmp_path / "coin", seed=0)
    argv = ["evaluate", "--model", str(coin), "--data", str(tmp_path / "nothing"), "--methods", "gradcam",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    assert "nothing" in capsys.readouterr().err


def test_tuning_on_the_scored_split_is_refused_before_any_work(phantom_bench, tmp_path, capsys):
    coin = _model_folder(tmp_path / "coin", seed=0)
    out = tmp_path / "o"
    argv = ["evaluate", "--model", str(coin), "--data", str(phantom_bench), "--split", "test",
            "--val-split", "test", "--methods", "coin", "--out", str(out), "--progress", "none"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "tuned on the split it is scored on ('test')" in err and "What to do:" in err
    assert "Traceback" not in err and not out.exists()


def test_compared_models_get_labelled_rows_and_write_threshold_updates_only_the_main_card(
    phantom_bench, tmp_path, capsys
):
    main_model = _model_folder(tmp_path / "new", seed=0)
    paper = _model_folder(tmp_path / "paper", seed=2)
    before = (paper / "model.json").read_bytes()
    out = tmp_path / "r"
    argv = ["evaluate", "--model", str(main_model), "--label", "COIN, new recipe",
            "--compare-model", f"COIN, paper recipe={paper}", "--data", str(phantom_bench),
            "--methods", "coin,gradcam", "--bootstrap-resamples", "100", "--device", "cpu",
            "--out", str(out), "--progress", "none", "--write-threshold"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert list(data["methods"]) == ["coin", "coin@COIN, paper recipe", "gradcam", "host_organ",
                                     "gated_host_organ"]  # fmt: skip
    assert data["methods"]["coin@COIN, paper recipe"]["model"] == str(paper)
    assert data["compare_models"] == {"COIN, paper recipe": str(paper)}
    assert "| COIN, new recipe |" in printed and "| COIN, paper recipe |" in printed
    card = json.loads((main_model / "model.json").read_text())
    row = data["methods"]["coin"]
    assert card["threshold"] == row["threshold"] and card["margin_mm"] == row["margin_mm"]
    src = card["threshold_source"]
    assert src["margins_mm"] == row["sweep"]["margins_mm"] and src["previous_margin_mm"] == 0.0
    assert src["method"] == "val-tuned micro IoU" and src["split"] == "val"
    assert src["post_processing"] == "paper" and src["val_micro_iou"] == row["val_micro_iou"]
    assert src["previous_threshold"] == 0.25 and src["written_by"] == "coin evaluate --write-threshold"
    assert (paper / "model.json").read_bytes() == before
    from coin_core.modelfile import read_card

    assert read_card(main_model).threshold_source == src
    assert f"mm into {main_model / 'model.json'}" in printed


def test_bad_compare_and_write_threshold_requests_exit_2(phantom_bench, tmp_path, capsys):
    coin = _model_folder(tmp_path / "coin", seed=0)
    base = ["evaluate", "--model", str(coin), "--data", str(phantom_bench), "--out", str(tmp_path / "o"),
            "--progress", "none"]  # fmt: skip
    assert main([*base, "--compare-model", "no-label-here"]) == 2
    assert "LABEL=FOLDER" in capsys.readouterr().err
    assert main([*base, "--methods", "gradcam", "--write-threshold"]) == 2
    assert "add coin to --methods" in capsys.readouterr().err
    assert main([*base, "--methods", "coin", "--compare-model", f"COIN={coin}"]) == 2
    assert "used twice" in capsys.readouterr().err
    assert main([*base, "--methods", "coin", "--margins", "0,two"]) == 2
    assert "--margins expects millimetres" in capsys.readouterr().err
    assert main([*base, "--methods", "coin", "--margins", "0,40"]) == 2
    assert "Mask margin 40 mm is outside" in capsys.readouterr().err
    assert json.loads((coin / "model.json").read_text()).get("threshold_source") is None
