"""The host organ in SegmentationLogic: a host-organ-box model refuses to start without it, and a chosen
host organ (segments of a real segmentation node) reaches the real worker as ``--host-mask``."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from host_organ_kit import add_segmentation, organ_masks  # noqa: E402

from coin_slicer import segmentation_logic  # noqa: E402
from coin_slicer.segmentation_logic import (  # noqa: E402
    SELECT_HOST,
    SegmentationLogic,
    SegmentationParameters,
    State,
    hostOrganRequirement,
)


@pytest.fixture
def models(tmp_path):  # noqa: ANN001, ANN201
    """A whole-slice tiny model and a host-organ-box copy of it (card ``input_crop``)."""
    import shutil

    from coin_testkit import add_host_box, make_tiny_model

    whole = make_tiny_model(tmp_path / "whole")
    boxed = tmp_path / "boxed"
    shutil.copytree(whole, boxed)
    return whole, add_host_box(boxed)


def test_the_card_says_which_models_need_the_host_organ(models, tmp_path):
    whole, boxed = models
    assert hostOrganRequirement(whole) == ""
    assert "108 x 216 mm box around the host organ" in hostOrganRequirement(boxed)
    assert hostOrganRequirement(tmp_path / "no_such_model") == ""  # the run says what is wrong with it


def test_a_box_model_without_a_host_organ_is_refused_before_anything_starts(
    a_scene, an_oblique_ct_file, models, recorded_argv
):
    ct = a_scene.load(an_oblique_ct_file)
    ids = a_scene.nodeIds()
    logic = SegmentationLogic(a_scene.scene)
    states = []
    logic.stateChanged.connect(states.append)
    with pytest.raises(ValueError) as refused:
        logic.process(ct, SegmentationParameters(str(models[1]), device="cpu"), waitForCompletion=True)
    assert "108 x 216 mm box around the host organ" in str(refused.value)
    assert SELECT_HOST in str(refused.value)
    assert recorded_argv == [] and states == [] and not logic.isRunning()
    assert a_scene.nodeIds() == ids


def test_the_chosen_host_segments_reach_the_worker_and_pick_the_slices(
    a_scene, an_oblique_ct_file, models, recorded_argv
):
    from coin_core.infer.segment import host_slice_filter
    from coin_core.io import read_volume

    ct = a_scene.load(an_oblique_ct_file)
    masks = organ_masks(an_oblique_ct_file)
    organs, segmentIds = add_segmentation(a_scene.scene, ct, masks)
    logic = SegmentationLogic(a_scene.scene)
    events = []
    logic.progressInfo.connect(events.append)
    params = SegmentationParameters(str(models[1]), device="cpu", screening=False, threshold=0.05)
    kidneys = [segmentIds["kidney_left"], segmentIds["kidney_right"]]
    outcome = logic.process(
        ct, params, waitForCompletion=True, timeout=240, hostSegmentation=organs, hostSegmentIds=kidneys
    )
    assert outcome.succeeded and logic.state == State.Idle
    assert (
        outcome.outputs.segmentation is not None and outcome.outputs.segmentation.GetName() == "COIN lesion"
    )
    (argv,) = recorded_argv
    hostFile = argv[argv.index("--host-mask") + 1]
    assert hostFile.endswith(segmentation_logic.HOST_MASK_FILE)
    assert argv[argv.index("--host-labels") + 1] == "1"
    done = events[-1]["metrics"]
    assert done["slice_selection"] == "host mask"
    # screening off: exactly the slices holding both kidneys (not the liver) got a counterfactual
    volume = read_volume(an_oblique_ct_file)
    kidney = (masks["kidney_left"] | masks["kidney_right"]).astype(np.uint8)
    expected = host_slice_filter(volume, volume.with_array(kidney), [1])
    with_liver = host_slice_filter(volume, volume.with_array(kidney | masks["liver"]), [1])
    assert done["counterfactual_slices"] == int(expected.sum()) < int(with_liver.sum())
    assert organs.GetSegmentation().GetNumberOfSegments() == 3  # the host organ is read, never changed


def test_an_unusable_host_choice_says_what_to_choose(a_scene, an_oblique_ct_file, models, recorded_argv):
    ct = a_scene.load(an_oblique_ct_file)
    masks = organ_masks(an_oblique_ct_file)
    organs, segmentIds = add_segmentation(
        a_scene.scene, ct, {**masks, "empty": np.zeros_like(masks["liver"])}
    )
    logic = SegmentationLogic(a_scene.scene)
    params = SegmentationParameters(str(models[1]), device="cpu")
    cases = [
        ({"hostSegmentation": organs, "hostSegmentIds": []}, "Check the host organ's segment(s) of 'organs'"),
        ({"hostSegmentation": organs, "hostSegmentIds": ["gone"]}, "has no segment 'gone'"),
        ({"hostSegmentation": organs, "hostSegmentIds": [segmentIds["empty"]]}, "covers no axial slice"),
        ({"hostSegmentation": ct, "hostSegmentIds": ["x"]}, "must be a segmentation node"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            logic.process(ct, params, **kwargs)
    transform = a_scene.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    organs.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(ValueError, match="different transforms"):
        logic.process(ct, params, hostSegmentation=organs, hostSegmentIds=[segmentIds["kidney_left"]])
    assert recorded_argv == [] and logic.state == State.Idle
