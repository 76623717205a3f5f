"""The page's logics without a browser: a real trame server object (not started), a real SlicerApp
scene, the real worker process and real files. Only the widgets are absent."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (requirements/web.txt)")


def page_logic(data_root, models: list[tuple[str, str]]):  # noqa: ANN001, ANN201
    """PageLogic on a fresh (not started) trame server and a fresh scene; device cpu."""
    from trame.app import get_server
    from trame_slicer.core import SlicerApp

    from coin_web.data_root import DataRoot
    from coin_web.logic import PageLogic

    server = get_server(f"coin-web-test-{uuid.uuid4().hex}", client_type="vue3")
    return PageLogic(server, SlicerApp(), DataRoot(data_root), models, "cpu")


@pytest.fixture
def a_page_logic(a_data_root, a_tiny_model):  # noqa: ANN001, ANN201
    """PageLogic listing only the tiny model."""
    return page_logic(a_data_root, [("tiny", str(a_tiny_model))])


def test_every_logic_is_built_without_a_browser_and_lists_the_data_root(a_page_logic):
    logic = a_page_logic
    names = [e.name for e in logic.files.data.entries]
    assert names == ["broken.nii.gz", "other", "phantom.nii.gz", "phantom_organs.nii.gz"]
    assert logic.run.data.models[0].title == "tiny" and logic.run.data.status == "Idle"
    assert not logic.review.data.has_result and logic.review.data.voxel_count == 0


def test_a_corrupt_file_and_a_path_outside_the_root_end_as_messages(a_page_logic):
    logic = a_page_logic
    assert asyncio.run(logic.files.open("broken.nii.gz")) is False
    assert logic.messages.data.kind == "error" and "broken.nii.gz" in logic.messages.data.text
    assert asyncio.run(logic.files.open("../escape.nii.gz")) is False
    assert "outside the data root" in logic.messages.data.text
    assert logic.session.volume_node is None


def test_generate_refuses_without_a_ct_or_with_an_unlisted_model(a_page_logic, tmp_path):
    logic = a_page_logic
    assert logic.run.generate() is False and "Open a CT" in logic.messages.data.text
    assert asyncio.run(logic.files.open("phantom.nii.gz"))
    logic.run.data.model_folder = str(tmp_path)  # a folder the browser must not be able to pick
    assert logic.run.generate() is False and "Choose a model" in logic.messages.data.text


def test_a_client_that_rewrites_the_model_list_still_cannot_run_an_unlisted_folder(a_page_logic, tmp_path):
    from coin_web.state import ModelEntryState

    logic = a_page_logic
    assert asyncio.run(logic.files.open("phantom.nii.gz"))
    # what a hostile client can send: its own list entry and the choice of it
    logic.run.data.models = [*logic.run.data.models, ModelEntryState("mine", str(tmp_path))]
    logic.run.data.model_folder = str(tmp_path)
    assert logic.run.generate() is False and "Choose a model" in logic.messages.data.text
    assert not logic.run.segmentation_logic.isRunning() and logic.session.outputs is None
    logic.run.data.models = []  # an emptied list does not remove the server's own choice either
    assert logic.run.resolve_model(logic.run._models[0][1]) == logic.run._models[0][1]


@pytest.mark.slow
def test_generate_threshold_edit_and_save_through_the_shared_slicer_logic(a_page_logic, a_data_root):
    logic = a_page_logic

    async def scenario():  # noqa: ANN202
        assert await logic.files.open("phantom.nii.gz")
        logic.run.data.screening = False
        assert logic.run.generate()
        assert logic.run.data.running and logic.session.busy
        assert not await logic.files.open("phantom.nii.gz")  # the CT cannot change under a run
        await logic.run.wait()

    asyncio.run(scenario())
    assert logic.messages.data.kind == "success", logic.messages.data.text
    assert logic.run.data.progress == 100.0 and not logic.run.data.running
    seg = logic.session.segmentation_node
    assert seg.GetName() == "COIN lesion"  # made by COINSegmentation's SegmentationLogic
    generated = logic.review.data.voxel_count
    assert generated > 0 and logic.review.data.threshold == pytest.approx(0.1)

    def table_voxels() -> int:  # the page's lesion table, summed over its rows
        return sum(row.voxels for row in logic.review.data.lesions)

    assert table_voxels() == generated
    assert logic.review.set_threshold(0.07) == logic.review.segment_voxel_count() > generated
    assert logic.review.data.voxel_count > generated and table_voxels() == logic.review.data.voxel_count

    thresholded = logic.review.data.voxel_count
    logic.editor.set_effect("islands")
    logic.editor.data.min_island_size = 10**9  # every island is "small": the segment empties
    logic.editor.remove_small_islands()
    assert logic.review.data.voxel_count == 0 and logic.editor.data.can_undo
    assert logic.review.data.lesions == []  # the table follows the edit
    logic.editor.undo()
    assert logic.review.data.voxel_count == thresholded and logic.editor.data.can_redo
    assert table_voxels() == thresholded
    assert not logic.save.data.dicom_available and logic.save.save_dicom_seg() == []  # a NIfTI CT
    assert "DICOM series folder" in logic.messages.data.text

    written = logic.save.save()
    assert sorted(p.name for p in written) == ["phantom_counterfactual.nii.gz", "phantom_lesion.seg.nrrd"]
    assert all(p.parent == a_data_root.resolve() for p in written)
    before = {p: p.stat().st_mtime_ns for p in written}
    assert logic.save.save() == [] and logic.save.data.ask_overwrite  # asks, writes nothing
    assert {p: p.stat().st_mtime_ns for p in written} == before
    logic.save.cancel_overwrite()
    assert not logic.save.data.ask_overwrite and {p: p.stat().st_mtime_ns for p in written} == before

    import SimpleITK as sitk

    saved = sitk.GetArrayFromImage(sitk.ReadImage(str(a_data_root / "phantom_lesion.seg.nrrd")))
    assert int(np.count_nonzero(saved)) == logic.review.segment_voxel_count()


def test_a_broken_model_fails_in_the_worker_and_the_page_says_why(a_data_root, tmp_path):
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "model.json").write_text("this is not JSON")
    logic = page_logic(a_data_root, [("broken", str(broken))])

    async def scenario():  # noqa: ANN202
        assert await logic.files.open("phantom.nii.gz")
        assert logic.run.generate()
        await logic.run.wait()

    asyncio.run(scenario())
    assert logic.messages.data.kind == "error" and "broken_model" in logic.messages.data.text
    assert logic.run.data.status == "Failed" and not logic.run.data.running and not logic.session.busy
    assert logic.session.outputs is None and logic.session.volume_node is not None


def test_a_dicom_series_folder_without_suffixes_is_listed_and_opens(a_data_root):
    import shutil
    from pathlib import Path

    import pydicom

    series = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    shutil.copytree(series, a_data_root / "CT5N")
    logic = page_logic(a_data_root, [])
    assert ("CT5N", "dicom") in [(e.name, e.kind) for e in logic.files.data.entries]
    assert asyncio.run(logic.files.open("CT5N")), logic.messages.data.text
    node = logic.session.volume_node
    assert node.GetName() == "CT5N" and node.GetImageData().GetDimensions()[2] > 1


@pytest.mark.slow
def test_save_as_dicom_seg_for_a_dicom_series_opened_in_the_page(a_data_root, a_tiny_model):
    import shutil
    from pathlib import Path

    import pydicom
    from dicom_testkit import check_seg_against_source, dciodvfy

    series = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    shutil.copytree(series, a_data_root / "CT5N")
    logic = page_logic(a_data_root, [("tiny", str(a_tiny_model))])

    async def scenario():  # noqa: ANN202
        assert await logic.files.open("CT5N"), logic.messages.data.text
        logic.run.data.screening = False
        assert logic.run.generate()
        await logic.run.wait()

    asyncio.run(scenario())
    assert logic.messages.data.kind == "success", logic.messages.data.text
    assert logic.save.data.dicom_available
    logic.review.set_threshold(0.07)
    count = logic.review.data.voxel_count
    assert count > 0 and sum(row.voxels for row in logic.review.data.lesions) == count
    written = logic.save.save_dicom_seg()
    assert [p.name for p in written] == ["CT5N_lesion_seg.dcm"] and written[0].parent == a_data_root.resolve()
    seg = logic.session.segmentation_node
    mask = logic.lesion_results.lesionMask(seg)[0].array
    assert int(mask.sum()) == count
    check_seg_against_source(written[0], a_data_root / "CT5N", mask)
    assert pydicom.dcmread(written[0]).SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    dciodvfy(written[0])
    before = written[0].stat().st_mtime_ns
    assert logic.save.save_dicom_seg() == [] and logic.save.data.ask_overwrite  # asks first
    assert logic.save.data.existing == ["CT5N_lesion_seg.dcm"] and written[0].stat().st_mtime_ns == before
    logic.editor.set_effect("islands")
    logic.editor.data.min_island_size = 10**9
    logic.editor.remove_small_islands()  # an edit by hand (the segment empties)
    assert logic.save.overwrite() == []  # an empty segment is refused: message, the old file stays
    assert "empty" in logic.messages.data.text and written[0].stat().st_mtime_ns == before
    logic.editor.undo()
    assert logic.save.save_dicom_seg() == [] and logic.save.data.ask_overwrite
    assert logic.save.overwrite() == written
    assert pydicom.dcmread(written[0]).SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"


def test_a_box_model_asks_for_the_host_organ_and_a_wrong_label_map_is_a_message(
    a_data_root, a_tiny_model, a_boxed_model, tmp_path
):
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume
    from coin_web.logic.host_logic import SELECT_HOST

    logic = page_logic(a_data_root, [("tiny", str(a_tiny_model)), ("boxed", str(a_boxed_model))])
    assert logic.host.data.required == ""  # the whole-slice model runs without one
    assert asyncio.run(logic.host.pick("phantom_organs.nii.gz")) is False
    assert "Open the CT first" in logic.messages.data.text
    assert asyncio.run(logic.files.open("phantom.nii.gz"))
    logic.run.state.ready()  # as a started server: state changes reach their listeners
    with logic.run.state:
        logic.run.data.model_folder = str(a_boxed_model)  # what the browser's model list sends
    assert "108 x 216 mm box around the host organ" in logic.host.data.required
    assert logic.run.generate() is False and not logic.run.segmentation_logic.isRunning()
    assert "box around the host organ" in logic.messages.data.text and SELECT_HOST in logic.messages.data.text

    other, _, _ = make_phantom(shape=(12, 64, 64), seed=2)
    write_volume(other.with_array(other.array > 100), a_data_root / "other" / "small_organs.nii.gz")
    for relative, message in (
        ("phantom.nii.gz", "is an image, not a label map"),  # the CT itself
        ("other/small_organs.nii.gz", "voxels (i, j, k); the CT has"),  # another CT's label map
        ("../outside.nii.gz", "outside the data root"),
    ):
        assert asyncio.run(logic.host.pick(relative)) is False
        assert (
            message in logic.messages.data.text and logic.host.data.path == "" and logic.host.choice() is None
        )

    assert asyncio.run(logic.host.pick("phantom_organs.nii.gz")), logic.messages.data.text
    assert [label.value for label in logic.host.data.labels] == [1, 2, 3] and logic.host.data.selected == []
    assert logic.run.generate() is False and "Choose the host organ's label(s)" in logic.messages.data.text
    selected = logic.host.name.selected  # a client may send anything: none of this is a label of the file
    for sent in ([7, "1 --no-gate", None], "1", {"1": 1}):
        logic.host.state[selected] = sent
        assert logic.host.choice() == (str((a_data_root / "phantom_organs.nii.gz").resolve()), "")
    assert logic.run.generate() is False and "Choose the host organ's label(s)" in logic.messages.data.text
    logic.host.state[selected] = [3, "1"]
    assert logic.host.choice()[1] == "1,3"  # the file's own ids, in its order
    assert asyncio.run(logic.files.open("phantom.nii.gz"))  # a CT (re)opened forgets the label map
    assert logic.host.choice() is None and logic.host.data.path == ""


@pytest.mark.slow
def test_a_box_model_runs_on_the_chosen_host_labels(a_data_root, a_boxed_model):
    from coin_core.infer.segment import host_slice_filter
    from coin_core.io import read_volume

    logic = page_logic(a_data_root, [("boxed", str(a_boxed_model))])
    outcomes = []
    logic.run.segmentation_logic.finished.connect(outcomes.append)

    async def scenario():  # noqa: ANN202
        assert await logic.files.open("phantom.nii.gz")
        assert await logic.host.pick("phantom_organs.nii.gz")
        logic.host.data.selected = [1]  # the kidney
        logic.run.data.screening = False
        assert logic.run.generate(), logic.messages.data.text
        await logic.run.wait()

    asyncio.run(scenario())
    assert logic.messages.data.kind == "success", logic.messages.data.text
    assert logic.session.segmentation_node.GetName() == "COIN lesion"
    done = outcomes[-1].events[-1]["metrics"]
    ct, organs = (
        read_volume(a_data_root / "phantom.nii.gz"),
        read_volume(a_data_root / "phantom_organs.nii.gz"),
    )
    kidney = host_slice_filter(ct, organs, [1])
    assert done["slice_selection"] == "host mask" and done["counterfactual_slices"] == int(kidney.sum())
    assert int(kidney.sum()) < int(host_slice_filter(ct, organs, [1, 2, 3]).sum())  # the kidney alone


@pytest.mark.slow
def test_the_runs_margin_is_shown_and_kept_by_the_threshold_and_client_values_are_checked(
    a_data_root, a_tiny_model, tmp_path
):
    """A card margin grows the run's mask; re-thresholding keeps it; the margin slider re-grows; bad values
    from the browser are refused with a message and the controls return to the segment's values."""
    import shutil

    from coin_core.infer import threshold_difference
    from coin_core.modelfile import threshold_source, write_threshold
    from coin_slicer.node_io import volumeFromNode

    wide = shutil.copytree(a_tiny_model, tmp_path / "wide")
    write_threshold(wide, 0.1, threshold_source("val", "paper", 0.2, 8), margin_mm=4.0)  # 3.6 mm pixels
    logic = page_logic(a_data_root, [("wide", str(wide))])

    async def scenario():  # noqa: ANN202
        assert await logic.files.open("phantom.nii.gz")
        logic.run.data.screening = False
        assert logic.run.generate()
        await logic.run.wait()

    asyncio.run(scenario())
    assert logic.messages.data.kind == "success", logic.messages.data.text
    review = logic.review
    assert (review.data.threshold, review.data.margin_mm) == (0.1, 4.0)  # the run's, from the card
    difference = volumeFromNode(logic.session.outputs.difference)

    def expected(threshold: float, margin: float) -> int:
        return int((threshold_difference(difference, threshold, "paper", margin_mm=margin).array > 0).sum())

    assert review.data.voxel_count == expected(0.1, 4.0) > expected(0.1, 0.0) > 0
    assert review.set_threshold(0.07) == review.segment_voxel_count() == expected(0.07, 4.0)  # margin kept
    assert review.set_margin(0.0) == review.segment_voxel_count() == expected(0.07, 0.0)
    assert review.data.voxel_count == expected(0.07, 0.0) < expected(0.07, 4.0)
    review.state.ready()  # as when the server starts: state changes now reach the change listeners
    with review.state:  # what the browser's slider does: the state changes, the server applies it
        review.data.margin_mm = 4.0
    assert review.segment_voxel_count() == expected(0.07, 4.0)
    assert logic.session.segmentation_node.GetAttribute("COIN.marginMm") == "4.0"
    for bad in (25.0, -1.0, float("nan")):  # numbers a client can send that are no margin
        logic.messages.show("")
        with review.state:
            review.data.margin_mm = bad
        assert logic.messages.data.kind == "error" and "Mask margin" in logic.messages.data.text
        assert review.segment_voxel_count() == expected(0.07, 4.0) and review.data.margin_mm == 4.0
    with review.state:
        review.data.threshold = 1.5
    assert "outside [0, 1]" in logic.messages.data.text and review.data.threshold == 0.07
    with review.state:  # not a number at all: the typed state refuses to decode it, nothing changes
        review.data.margin_mm = "wide"
    assert review.segment_voxel_count() == expected(0.07, 4.0)
    for bad in ("wide", None, [2.0]):  # the same values through the server's own entry point
        assert review.set_margin(bad) is None and "Mask margin" in logic.messages.data.text
        assert review.set_threshold(bad, 4.0) is None and "Could not re-threshold" in logic.messages.data.text
    assert review.segment_voxel_count() == expected(0.07, 4.0)
    assert (review.data.threshold, review.data.margin_mm) == (0.07, 4.0)
