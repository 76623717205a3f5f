"""The evaluation routine on a hand-built BENCH with an oracle counterfactual (known answers)."""

from __future__ import annotations

import json

import pytest

from coin_core.errors import CoinCancelled, CoinError
from coin_core.evaluation.evaluate import EvaluationSettings, evaluate
from coin_core.evaluation.report import markdown_table, write_results

FAST = dict(rise_masks=200, batch_size=8)


def test_an_oracle_counterfactual_scores_perfectly_and_flips_every_confident_positive(
    oracle_model, squares_bench
):
    res = evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin",), **FAST))
    coin = res["methods"]["coin"]
    assert res["n_slices"] == 12 and res["n_scored_slices"] == 6
    assert coin["kind"] == "counterfactual"
    assert coin["micro_iou"] == pytest.approx(1.0)
    assert coin["micro_dice"] == pytest.approx(1.0)
    assert coin["mean_case_dice"] == pytest.approx(1.0)
    assert coin["paper_micro_iou"] == pytest.approx(1.0)
    assert coin["threshold"] == pytest.approx(0.02)  # smallest grid value that already gives IoU 1
    assert coin["val_micro_iou"] == pytest.approx(1.0)
    assert coin["cv"] == pytest.approx(1.0) and coin["cv_n"] == 6
    assert coin["cf_normal_rate"] == pytest.approx(1.0)
    assert coin["fd_classifier"] > 0  # the abnormal half changed
    assert set(coin["per_case"]) == {"4", "5"}  # test cases are 4 and 5 in the fixture
    assert coin["n_slices"] == 6


def test_every_method_is_scored_on_the_same_slices_and_written_as_json_and_markdown(
    oracle_model, squares_bench, tmp_path
):
    methods = ("coin", "singla", "rise", "scorecam", "layercam", "gradcam")
    res = evaluate(
        oracle_model, squares_bench, EvaluationSettings(methods=methods, **FAST), singla_model=oracle_model
    )
    assert list(res["methods"]) == [*methods, "host_organ", "gated_host_organ"]
    for name in methods:
        m = res["methods"][name]
        assert m["n_slices"] == 6, name
        assert 0.0 <= m["micro_iou"] <= 1.0, name
        assert m["threshold"] in res["methods"][name]["sweep"]["thresholds"]
        if m["kind"] == "attribution":
            assert m["cv"] is None and m["fd_classifier"] is None
            assert m["paper_threshold"] == 0.975 and m["paper_postprocess"] == "none"
        else:
            assert m["paper_threshold"] == 0.25 and m["paper_postprocess"] == "paper"
    # the blob detector's CAMs sit on the squares: far better than chance, below the oracle
    assert res["methods"]["gradcam"]["micro_iou"] > 0.3
    assert res["methods"]["singla"]["micro_iou"] == res["methods"]["coin"]["micro_iou"]

    js, md = write_results(res, tmp_path / "out")
    data = json.loads(js.read_text())
    assert data["format"] == "coin-evaluation/2"
    for key in (
        "micro_iou",
        "mean_case_dice",
        "cv",
        "fd_classifier",
        "threshold",
        "paper_micro_iou",
        "micro_iou_ci",
        "micro_iou_with_normals",
        "micro_iou_with_normals_ci",
        "speckle",
    ):
        assert all(key in m for m in data["methods"].values()), key
    table = md.read_text()
    assert table == markdown_table(data)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1].strip() for r in rows[1:]] == [
        "COIN", "Singla et al.*", "RISE", "ScoreCAM", "LayerCAM", "Grad-CAM",
        "Host organ (baseline)", "Host organ where f says abnormal (baseline)",
    ]  # fmt: skip
    assert "| COIN | yes | 1.000 [1.00, 1.00] | 1.000 [1.00, 1.00] | 1.000 | 1.000 | 0.020 + 0 mm |" in table
    with pytest.raises(CoinError, match="already exist"):
        write_results(res, tmp_path / "out")


def test_bad_requests_fail_before_any_work(oracle_model, squares_bench):
    with pytest.raises(CoinError, match="nope"):
        evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin", "nope")))
    with pytest.raises(CoinError, match="--singla-model"):
        evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("singla",)))
    with pytest.raises(CoinError, match="3d"):
        evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin",), postprocess="3d"))
    with pytest.raises(CoinCancelled):
        evaluate(
            oracle_model, squares_bench, EvaluationSettings(methods=("gradcam",)), should_stop=lambda: True
        )
