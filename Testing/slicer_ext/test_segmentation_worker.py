"""SegmentationLogic end to end with the real worker process (`python -m coin_core segment`)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from coin_slicer.node_io import ijkToRas  # noqa: E402
from coin_slicer.segmentation_logic import (  # noqa: E402
    SegmentationLogic,
    SegmentationParameters,
    State,
)


@pytest.fixture
def a_tiny_model(tmp_path):
    """A randomly initialised 'small' COIN model folder (fast on CPU; its output is meaningless)."""
    from coin_testkit import make_tiny_model

    return make_tiny_model(tmp_path / "tiny_model")


def test_a_failed_run_leaves_the_scene_unchanged_and_surfaces_the_workers_message(
    a_scene, an_oblique_ct_file, tmp_path
):
    bad = tmp_path / "broken_model"
    bad.mkdir()
    (bad / "model.json").write_text("this is not JSON")
    ct = a_scene.load(an_oblique_ct_file)
    ids = a_scene.nodeIds()
    logic = SegmentationLogic(a_scene.scene)
    errors, states = [], []
    logic.errorOccurred.connect(errors.append)
    logic.stateChanged.connect(states.append)
    with pytest.raises(RuntimeError) as raised:
        logic.process(ct, SegmentationParameters(str(bad)), waitForCompletion=True, timeout=120)
    assert errors == [str(raised.value)] and "broken_model" in errors[0]
    assert states == [State.Starting, State.Running, State.Failed]
    assert a_scene.nodeIds() == ids


def test_a_real_run_gives_nodes_on_the_inputs_grid_with_the_workers_mask(
    a_scene, an_oblique_ct_file, a_tiny_model
):
    """The card's margin (none given) grows the worker's mask; the node stores it; a re-threshold keeps it."""
    from coin_core.infer import threshold_difference
    from coin_core.modelfile import threshold_source, write_threshold
    from coin_slicer.node_io import volumeFromNode

    write_threshold(a_tiny_model, 0.25, threshold_source("val", "paper", 0.2, 8), margin_mm=2.0)
    ct = a_scene.load(an_oblique_ct_file)
    logic = SegmentationLogic(a_scene.scene)
    events = []
    logic.progressInfo.connect(events.append)
    params = SegmentationParameters(str(a_tiny_model), device="cpu", screening=False, threshold=0.05)
    outcome = logic.process(ct, params, waitForCompletion=True, timeout=240)
    assert outcome.succeeded and logic.state == State.Idle and not logic.isRunning()
    assert events[-1]["stage"] == "done" and any(e["stage"] != "done" for e in events)
    out = outcome.outputs
    for node in (out.counterfactual, out.difference):
        assert np.array_equal(ijkToRas(node), ijkToRas(ct))
    assert (out.threshold, out.marginMm) == (0.05, 2.0) and events[-1]["metrics"]["margin_mm"] == 2.0
    assert out.segmentation.GetAttribute("COIN.marginMm") == "2.0"
    # the worker's own mask (oblique, anisotropic CT), recomputed from its difference map as it does
    difference = volumeFromNode(out.difference)
    worker_mask = threshold_difference(difference, 0.05, "paper", margin_mm=2.0).array
    lesion = a_scene.segmentArray(out.segmentation, out.segmentId, ct)
    assert np.array_equal(lesion > 0, worker_mask > 0)
    assert int((lesion > 0).sum()) == events[-1]["metrics"]["lesion_voxels"] > 0
    assert (worker_mask > 0).sum() > (threshold_difference(difference, 0.05, "paper").array > 0).sum()
    assert logic.rethreshold(out.segmentation, 0.05) == int((lesion > 0).sum())  # the same mask again


def test_a_cancelled_run_leaves_the_scene_unchanged(a_scene, an_oblique_ct_file, a_tiny_model):
    ct = a_scene.load(an_oblique_ct_file)
    ids = a_scene.nodeIds()
    logic = SegmentationLogic(a_scene.scene)
    events, outcomes = [], []
    logic.progressInfo.connect(events.append)
    logic.finished.connect(outcomes.append)
    logic.process(ct, SegmentationParameters(str(a_tiny_model), device="cpu", screening=False))
    deadline = time.monotonic() + 120
    while not events and time.monotonic() < deadline:
        logic.processEvents()
        time.sleep(0.02)
    assert events, "the worker never reported progress"
    logic.cancel()
    while logic.processEvents():
        time.sleep(0.02)
    assert len(outcomes) == 1 and outcomes[0].cancelled and not outcomes[0].succeeded
    assert logic.state == State.Idle
    assert a_scene.nodeIds() == ids
