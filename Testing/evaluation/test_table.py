"""The table that can say no: baselines, the normals-too column, intervals, speckle, val-only thresholds.

Every expected figure is computed here from the bench's construction (squares of 6 x 6 pixels on
32 x 32 slices, see conftest.py), not copied from a run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from evaluation_helpers import OracleCounterfactualModel

from coin_core.errors import CoinError
from coin_core.evaluation.evaluate import EvaluationSettings, evaluate
from coin_core.evaluation.report import markdown_table

FAST = dict(rise_masks=50, batch_size=8, bootstrap_resamples=300)
N_AB, AREA, PIXELS = 6, 36, 32 * 32  # abnormal test slices, square area, slice size (conftest)
CORNER = (slice(29, 32), slice(26, 32))  # 18 pixels, never touching a square (rows 3..27)


class CornerMarker(OracleCounterfactualModel):
    """The oracle, plus a change of 0.2 (map units) in a fixed corner patch of every slice."""

    def counterfactual(self, x: torch.Tensor) -> torch.Tensor:
        cf = super().counterfactual(x).clone()
        cf[..., CORNER[0], CORNER[1]] -= 0.4
        return cf


class Blind(OracleCounterfactualModel):
    """Changes nothing: its map is zero everywhere, so it marks nothing."""

    def counterfactual(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


def _rows(table: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines() if line.startswith("| ")
    ]


def test_the_baselines_are_rows_with_their_exact_figures_and_the_oracle_beats_both(
    oracle_model, squares_bench
):
    res = evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin",), **FAST))
    rows = res["methods"]
    assert list(rows) == ["coin", "host_organ", "gated_host_organ"]
    host, gated = rows["host_organ"], rows["gated_host_organ"]
    # host = the whole slice in this bench: every abnormal slice scores 36 / 1024
    assert host["micro_iou"] == pytest.approx(N_AB * AREA / (N_AB * PIXELS))
    # with the 6 normal slices, the host marks 1024 false positives on each
    assert host["micro_iou_with_normals"] == pytest.approx(N_AB * AREA / (2 * N_AB * PIXELS))
    assert host["fp_pixels_on_normals"] == N_AB * PIXELS and host["normals_marked"] == N_AB
    assert host["tp_fp_fn"] == [N_AB * AREA, N_AB * (PIXELS - AREA), 0]
    assert host["tp_fp_fn_with_normals"] == [N_AB * AREA, N_AB * (2 * PIXELS - AREA), 0]
    # the blob detector calls exactly the 6 squares abnormal, so the gate removes the normal slices
    assert gated["gate"]["samples_called_abnormal"] == N_AB
    assert gated["micro_iou"] == pytest.approx(host["micro_iou"])
    assert gated["micro_iou_with_normals"] == pytest.approx(host["micro_iou"])
    assert gated["fp_pixels_on_normals"] == 0
    assert host["kind"] == "baseline" and host["threshold"] is None and host["beats_baselines"] is None
    coin = rows["coin"]
    assert coin["micro_iou"] == pytest.approx(1.0) and coin["micro_iou_with_normals"] == pytest.approx(1.0)
    assert coin["beats_baselines"] == {"paper_protocol": True, "with_normals": True, "both": True}
    assert res["n_normal_slices"] == N_AB and coin["n_normal_slices"] == N_AB


def test_a_method_that_changes_nothing_does_not_count(squares_bench):
    res = evaluate(Blind(32), squares_bench, EvaluationSettings(methods=("coin",), **FAST))
    coin = res["methods"]["coin"]
    assert coin["micro_iou"] == 0.0
    assert coin["beats_baselines"] == {"paper_protocol": False, "with_normals": False, "both": False}
    assert _rows(markdown_table(res))[1][:2] == ["COIN", "no"]


def test_marks_on_normal_slices_count_only_in_the_normals_column_and_show_as_speckle(squares_bench):
    res = evaluate(CornerMarker(32), squares_bench, EvaluationSettings(methods=("coin",), **FAST))
    coin = res["methods"]["coin"]
    # on abnormal slices the square is the largest component: the corner is cleaned away
    assert coin["micro_iou"] == pytest.approx(1.0)
    # on normal slices the corner is the largest component: 18 false positives on each
    patch = 3 * 6
    assert coin["fp_pixels_on_normals"] == N_AB * patch and coin["normals_marked"] == N_AB
    assert coin["micro_iou_with_normals"] == pytest.approx(N_AB * AREA / (N_AB * AREA + N_AB * patch))
    assert coin["micro_dice_with_normals"] == pytest.approx(2 * 216 / (2 * 216 + N_AB * patch))
    # 18 of 1024 healthy pixels (1.8 % > 1 %) carry 0.2: the 99th percentile is 0.2, far above thr / 2
    sp = coin["speckle"]
    assert coin["threshold"] == pytest.approx(0.02)
    assert sp["normal_p99"] == pytest.approx(0.2, abs=2e-3) and sp["abnormal_p99"] == pytest.approx(
        0.2, abs=2e-3
    )
    assert sp["half_threshold"] == pytest.approx(0.01) and sp["pass"] is False
    # it still beats both baselines in both columns (2/3 > 0.035)
    assert coin["beats_baselines"]["both"] is True
    row = _rows(markdown_table(res))[1]
    assert row[0] == "COIN" and row[2] == "1.000 [1.00, 1.00]" and row[3].startswith("0.667 [")
    assert row[7].endswith("vs 0.010: FAIL")
    # the oracle leaves healthy tissue alone
    ok = evaluate(OracleCounterfactualModel(32), squares_bench, EvaluationSettings(methods=("coin",), **FAST))
    assert ok["methods"]["coin"]["speckle"]["normal_p99"] <= 1e-4 and ok["methods"]["coin"]["speckle"]["pass"]


def test_compared_coin_models_are_rows_of_their_own(oracle_model, squares_bench):
    res = evaluate(
        oracle_model,
        squares_bench,
        EvaluationSettings(methods=("coin", "gradcam"), **FAST),
        compare_models=[("COIN, corner recipe", CornerMarker(32))],
        label="COIN, oracle recipe",
    )
    assert list(res["methods"]) == ["coin", "coin@COIN, corner recipe", "gradcam", "host_organ",
                                    "gated_host_organ"]  # fmt: skip
    other = res["methods"]["coin@COIN, corner recipe"]
    assert other["method"] == "coin" and other["label"] == "COIN, corner recipe"
    assert other["fp_pixels_on_normals"] == N_AB * 18 and res["methods"]["coin"]["fp_pixels_on_normals"] == 0
    labels = [r[0] for r in _rows(markdown_table(res))[1:]]
    assert labels[:3] == ["COIN, oracle recipe", "COIN, corner recipe", "Grad-CAM"]
    # a compared model of another input size is tuned and scored at its own size
    big = evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin",), **FAST),
                   compare_models=[("COIN, 64 px", OracleCounterfactualModel(64))])  # fmt: skip
    assert (
        big["methods"]["coin@COIN, 64 px"]["input_size"] == 64 and big["methods"]["coin"]["input_size"] == 32
    )
    assert big["methods"]["coin@COIN, 64 px"]["micro_iou"] > 0.8
    assert "Rows are scored at their model's input size (32, 64 px" in markdown_table(big)
    with pytest.raises(CoinError, match="used twice"):
        evaluate(oracle_model, squares_bench, EvaluationSettings(methods=("coin",), **FAST),
                 compare_models=[("COIN", CornerMarker(32))])  # fmt: skip


class GreyOut(OracleCounterfactualModel):
    """Every counterfactual is the flat background: the map is |x + 0.5| / 2 wherever x differs."""

    def counterfactual(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, -0.5)


@pytest.fixture(scope="module")
def split_optima_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """val: lesions at map 0.7 in a 2-pixel ring at 0.3 (optimum 0.4); test: lesions at 0.39 (optimum 0.1)."""
    from coin_core.data.benchmark import SliceArrays, save_split

    root = tmp_path_factory.mktemp("optima")
    rng = np.random.default_rng(1)
    for split, lesion_value, ring_value in (("train", 0.9, None), ("val", 0.9, 0.1), ("test", 0.28, None)):
        n = 8
        image = np.full((n, 32, 32), -0.5)
        lesion = np.zeros((n, 32, 32), np.uint8)
        label = (np.arange(n) % 2 == 0).astype(np.uint8)
        for i in np.flatnonzero(label):
            r, c = rng.integers(4, 22, size=2)
            if ring_value is not None:
                image[i, r - 2 : r + 8, c - 2 : c + 8] = ring_value
            lesion[i, r : r + 6, c : c + 6] = 1
            image[i][lesion[i] == 1] = lesion_value
        arrays = SliceArrays(
            image=image.astype(np.float16),
            label=label,
            lesion=lesion,
            has_mask=np.ones(n, np.uint8),
            host=np.ones((n, 32, 32), np.uint8),
            case=np.zeros(n),
            slice_index=np.arange(n) // 2,
            draw=np.arange(n) % 2,
        )
        save_split(root, split, arrays)
    return root


def test_the_threshold_comes_from_the_val_split_never_the_scored_one(split_optima_bench):
    grid = (0.1, 0.2, 0.4, 0.5, 0.6)
    model = GreyOut(32)
    res = evaluate(model, split_optima_bench, EvaluationSettings(methods=("coin",), thresholds=grid, **FAST))
    coin = res["methods"]["coin"]
    # val's optimum: 0.4 drops the ring and keeps the lesion (IoU 1); test's lesions sit at 0.39
    assert coin["threshold"] == pytest.approx(0.4) and coin["val_micro_iou"] == pytest.approx(1.0)
    assert coin["micro_iou"] == 0.0
    # the other way round: tuned on test, scored on val, the threshold is test's optimum
    swapped = evaluate(model, split_optima_bench, EvaluationSettings(
        methods=("coin",), thresholds=grid, split="val", val_split="test", **FAST))  # fmt: skip
    assert swapped["methods"]["coin"]["threshold"] == pytest.approx(0.1)
    assert swapped["methods"]["coin"]["val_micro_iou"] == pytest.approx(1.0)
    with pytest.raises(CoinError, match="tuned on the split it is scored on"):
        evaluate(
            model, split_optima_bench, EvaluationSettings(methods=("coin",), split="val", val_split="val")
        )
