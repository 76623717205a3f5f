"""A model with a host-organ box is scored in the same frame as a whole-slice model (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_helpers import OracleCounterfactualModel

from coin_core.evaluation.evaluate import EvaluationSettings, evaluate

FAST = dict(rise_masks=200, batch_size=8, bootstrap_resamples=50)
HOST_ROWS, HOST_COLS = (16, 48), (8, 56)  # a 32 x 48 px host organ in 64 x 64 slices of 1 mm pixels


@pytest.fixture(scope="module")
def host_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """64 x 64 slices of 1 mm pixels: a grey host organ with a bright 8 x 8 square on every other slice."""
    from coin_core.data.benchmark import SliceArrays, save_split, write_benchmark_json

    root = tmp_path_factory.mktemp("bench") / "host"
    root.mkdir()
    rng = np.random.default_rng(1)
    for s, split in enumerate(("train", "val", "test")):
        n = 8
        image = np.full((n, 64, 64), -1.0) + 0.02 * rng.standard_normal((n, 64, 64))
        host = np.zeros((n, 64, 64), np.uint8)
        host[:, HOST_ROWS[0] : HOST_ROWS[1], HOST_COLS[0] : HOST_COLS[1]] = 1
        image[host == 1] = -0.5
        lesion = np.zeros((n, 64, 64), np.uint8)
        for i in range(0, n, 2):
            r = rng.integers(HOST_ROWS[0] + 2, HOST_ROWS[1] - 10)
            c = rng.integers(HOST_COLS[0] + 2, HOST_COLS[1] - 10)
            lesion[i, r : r + 8, c : c + 8] = 1
        image[lesion == 1] = 0.9
        arrays = SliceArrays(
            image=image.astype(np.float16), label=lesion.reshape(n, -1).max(1), lesion=lesion,
            has_mask=np.ones(n, np.uint8), host=host, case=np.full(n, s), slice_index=np.arange(n),
            draw=np.zeros(n),
        )  # fmt: skip
        save_split(root, split, arrays)
    meta = {
        "format": "coin-slices/1",
        "input_size": 64,
        "window": {"lo": -200.0, "hi": 400.0},
        "splits": {},
        "cases": [{"id": f"c{i}", "frame_pixel_mm": [1.0, 1.0]} for i in range(3)],
    }
    write_benchmark_json(root, meta)
    return root


def _boxed(size: int, box_mm: tuple[float, float]) -> OracleCounterfactualModel:
    from coin_core.data.crop import HostCrop

    model = OracleCounterfactualModel(size)
    model.card.input_crop = HostCrop(box_mm)
    return model


def test_a_boxed_oracle_scores_like_the_whole_slice_oracle_in_the_same_frame(host_bench):
    s = EvaluationSettings(methods=("coin",), **FAST)
    whole = evaluate(OracleCounterfactualModel(32), host_bench, s)["methods"]["coin"]
    boxed = evaluate(
        _boxed(32, (32.0, 48.0)), host_bench, s, compare_models=[("whole", OracleCounterfactualModel(32))]
    )
    row = boxed["methods"]["coin"]
    assert boxed["input_size"] == 32 and row["input_crop"] == {"kind": "host_box", "size_mm": [32.0, 48.0]}
    # 8 x 8 mm squares at 2 mm frame pixels: both oracles find them; a map pasted at the wrong place
    # (a transposed or shifted box) would score near 0
    assert whole["micro_iou"] > 0.7 and row["micro_iou"] > 0.7
    assert boxed["methods"]["coin@whole"]["micro_iou"] == pytest.approx(whole["micro_iou"])
    assert row["micro_iou_with_normals"] == pytest.approx(row["micro_iou"])  # nothing on the normals
    host = boxed["methods"]["host_organ"]
    assert host["micro_iou"] == pytest.approx(16 / (16 * 24))  # the frame's host organ at 32 px


def test_attribution_maps_of_a_boxed_model_come_back_to_the_frame(host_bench):
    res = evaluate(_boxed(32, (32.0, 48.0)), host_bench, EvaluationSettings(methods=("gradcam",), **FAST))
    assert res["methods"]["gradcam"]["n_slices"] == 4
