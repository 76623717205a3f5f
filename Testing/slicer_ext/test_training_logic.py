"""COINTraining's logic on slicer-core: dataset from scene nodes, events file -> plot nodes, commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from coin_slicer.dataset_builder import buildDatasetFromScene  # noqa: E402
from coin_slicer.events_plot import EventsFollower, TrainingPlot  # noqa: E402
from coin_slicer.training_logic import (  # noqa: E402
    EVENTS_FILE,
    RUN_FILE,
    TrainingLogic,
    TrainingParameters,
)


def _events_file(path, n_steps=6):
    """A real events file written by the trainer's own EventSink."""
    from coin_core.progress import ProgressEvent
    from coin_core.train.events import EventSink

    sink = EventSink(None, path)
    for step in range(1, n_steps + 1):
        metrics = {"epoch": 0, "step": step, "Loss/C/bce": 1.0 / step, "eta_s": 3.0}
        sink.emit(ProgressEvent("classifier", step, n_steps, f"step {step}", metrics))
    sink.emit(
        ProgressEvent(
            "classifier_validation", 1, 1, "epoch 1", {"epoch": 0, "step": n_steps, "val/auc": 0.75}
        )
    )
    sink.close()
    return path


def test_the_follower_returns_only_complete_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    follower = EventsFollower(path)
    assert follower.readNew() == []
    with open(path, "w") as f:
        f.write('{"stage": "gan", "done": 1}\n{"stage": "gan", "do')
    assert [e["done"] for e in follower.readNew()] == [1]
    with open(path, "a") as f:
        f.write('ne": 2}\nnot json\n')
    assert [e["done"] for e in follower.readNew()] == [2]
    assert follower.readNew() == []


def test_events_become_table_series_and_chart_nodes(a_scene, tmp_path):
    path = _events_file(tmp_path / "events.jsonl")
    plot = TrainingPlot(a_scene.scene, "COIN run1")
    assert plot.addEvents(EventsFollower(path).readNew()) == 7
    assert plot.column("classifier", "Loss/C/bce") == pytest.approx([1.0 / s for s in range(1, 7)])
    assert plot.column("classifier", "step") == [1, 2, 3, 4, 5, 6]
    assert plot.latestValidation == {"epoch": 0, "val/auc": 0.75}
    assert plot.seriesNames() == ["classifier Loss/C/bce", "classifier_validation val/auc"]
    assert plot.lossChart.GetNumberOfPlotSeriesNodes() == 1
    assert plot.validationChart.GetNumberOfPlotSeriesNodes() == 1
    series = plot.lossChart.GetNthPlotSeriesNode(0)
    assert series.GetYColumnName() == "Loss/C/bce" and series.GetTableNode().GetTable().GetNumberOfRows() == 6


def test_reading_the_events_again_after_a_restart_rebuilds_the_curves(a_scene, tmp_path):
    path = _events_file(tmp_path / "events.jsonl")
    TrainingPlot(a_scene.scene, "COIN run1").addEvents(EventsFollower(path).readNew())
    again = TrainingPlot(a_scene.scene, "COIN run1")  # e.g. Start after reopening Slicer
    again.addEvents(EventsFollower(path).readNew())
    assert len(again.column("classifier", "Loss/C/bce")) == 6
    assert a_scene.scene.GetNumberOfNodesByClass("vtkMRMLPlotChartNode") == 2


def test_a_dataset_built_from_scene_nodes_reads_back_with_coin_core(a_scene, an_oblique_ct_file, tmp_path):
    from coin_core.data.labels import read_label_csv
    from coin_core.data.nnunet import read_nnunet
    from coin_core.io import read_volume
    from coin_slicer.node_io import arrayFromNode
    from coin_slicer.scene_helpers import setSegmentMask

    ct = a_scene.load(an_oblique_ct_file)
    seg = a_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "truth")
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    mask = np.zeros(arrayFromNode(ct).shape, bool)
    mask[6:9, 15:22, 25:31] = True
    segment = seg.GetSegmentation().AddEmptySegment("", "tumor")
    setSegmentMask(seg, segment, mask, ct)
    table = a_scene.scene.AddNewNodeByClass("vtkMRMLTableNode", "slice labels")
    for name in ("case", "slice", "label"):
        table.AddColumn().SetName(name)
    for k, y in ((7, 1), (2, 0)):
        row = table.AddEmptyRow()
        for col, value in enumerate(("CT", str(k), str(y))):
            table.SetCellText(row, col, value)
    ids = a_scene.nodeIds()
    root = buildDatasetFromScene(a_scene.scene, [(ct, seg)], tmp_path / "dataset", sliceLabelTable=table)
    assert a_scene.nodeIds() == ids
    dataset = read_nnunet(root)
    assert [c.id for c in dataset.cases] == ["case000"]
    label = read_volume(dataset.cases[0].label)
    assert np.array_equal(label.array == 1, mask)
    assert np.array_equal(read_volume(dataset.cases[0].image).array, arrayFromNode(ct))
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["labels"]["tumor"] == 1 and meta["slicer_cases"] == {"case000": "CT"}
    assert meta["exclude_slices"] == {"case000": [7]}
    assert read_label_csv(root / "slice_labels.csv", {"case000": 16}) == {
        ("case000", 7): 1,
        ("case000", 2): 0,
    }


def test_a_slice_label_table_with_a_bad_label_is_refused_before_anything_is_written(
    a_scene, an_oblique_ct_file, tmp_path
):
    ct = a_scene.load(an_oblique_ct_file)
    table = a_scene.scene.AddNewNodeByClass("vtkMRMLTableNode", "labels")
    for name in ("case", "slice", "label"):
        table.AddColumn().SetName(name)
    row = table.AddEmptyRow()
    for col, value in enumerate(("CT", "3", "2")):
        table.SetCellText(row, col, value)
    with pytest.raises(ValueError, match="label must be 0"):
        buildDatasetFromScene(a_scene.scene, [(ct, None)], tmp_path / "d", sliceLabelTable=table)
    assert not (tmp_path / "d").exists()


def test_an_empty_case_list_or_a_used_folder_is_refused(a_scene, an_oblique_ct_file, tmp_path):
    with pytest.raises(ValueError, match="at least one volume"):
        buildDatasetFromScene(a_scene.scene, [], tmp_path / "d")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("x")
    ct = a_scene.load(an_oblique_ct_file)
    with pytest.raises(ValueError, match="not empty"):
        buildDatasetFromScene(a_scene.scene, [(ct, None)], tmp_path / "used")


def test_commands_prepare_nnunet_data_first_and_resume_a_known_run(a_scene, tmp_path):
    data = tmp_path / "nnunet"
    (data / "imagesTr").mkdir(parents=True)
    (data / "dataset.json").write_text("{}")
    run = tmp_path / "run"
    logic = TrainingLogic(a_scene.scene, python="python")
    steps = logic.commands(TrainingParameters(str(data), str(run), preset="small", host="liver"))
    assert [s[3] for s in steps] == ["data", "train"]
    assert steps[0][steps[0].index("--host") + 1] == "liver"
    assert steps[1][steps[1].index("--data") + 1] == str(run / "bench") and "--resume" not in steps[1]
    run.mkdir()
    (run / RUN_FILE).write_text("{}")
    (run / EVENTS_FILE).write_text("")
    (run / "bench").mkdir()
    (run / "bench" / "benchmark.json").write_text("{}")
    steps = logic.commands(TrainingParameters(str(data), str(run)))
    assert len(steps) == 1 and steps[0][-1] == "--resume"
    with pytest.raises(ValueError, match="neither a prepared slice set"):
        logic.commands(TrainingParameters(str(tmp_path), str(run)))
