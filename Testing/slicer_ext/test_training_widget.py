"""COINTraining's widget code against the real logic and scene, with Qt stand-ins (no training run)."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from fake_qt import FakeParameterNode, fake_qt_module  # noqa: E402
from test_segmentation_widget import fake_ui  # noqa: E402


class FakeCheckableCombo:
    def __init__(self) -> None:
        self.nodes, self.visible = [], True

    def checkedNodes(self):
        return list(self.nodes)


@pytest.fixture
def a_training_panel(monkeypatch, a_scene):
    import slicer

    monkeypatch.setitem(sys.modules, "qt", fake_qt_module())
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    monkeypatch.setitem(sys.modules, "slicer.i18n", i18n)
    monkeypatch.setattr(slicer, "i18n", i18n, raising=False)
    monkeypatch.setattr(slicer.util, "WaitCursor", contextlib.nullcontext)
    monkeypatch.setattr(slicer, "mrmlScene", a_scene.scene, raising=False)
    for name in ("COINTrainingLib.Widget", "COINSegmentationLib.Widget"):
        sys.modules.pop(name, None)
    Widget = importlib.import_module("COINTrainingLib.Widget")
    from coin_slicer.training_logic import TrainingLogic

    ui = fake_ui("COINTraining")
    ui.volumesCheckableComboBox = FakeCheckableCombo()
    for item in ("folder", "segmentations", "segmentations + slice labels"):
        ui.dataSourceComboBox.addItem(item)
    ui.dataSourceComboBox.currentIndex = 0
    panel = Widget.TrainingWidget(ui, TrainingLogic(a_scene.scene, python="unused"), doShowInfoWindows=False)
    node = FakeParameterNode(dataFolder=Path(), runFolder=Path(), preset="small", host="kidney", device="cpu",
                             sliceLabelTable=None)  # fmt: skip
    panel.setParameterNode(node)
    yield types.SimpleNamespace(panel=panel, ui=ui, node=node, scene=a_scene, module=Widget)
    panel.cleanup()
    for name in ("COINTrainingLib.Widget", "COINSegmentationLib.Widget"):
        sys.modules.pop(name, None)


def test_start_says_what_is_missing_and_the_source_switches_the_inputs(a_training_panel, tmp_path):
    ui, node = a_training_panel.ui, a_training_panel.node
    assert not ui.startButton.enabled and ui.startButton.toolTip == "Choose an output folder."
    node.runFolder = tmp_path / "run"
    node.Modified()
    assert ui.startButton.toolTip == "Choose a dataset folder."
    ui.dataSourceComboBox.setCurrentIndex(1)
    assert not ui.dataFolderPathLineEdit.visible and ui.volumesCheckableComboBox.visible
    assert (
        not ui.sliceLabelTableSelector.visible and ui.startButton.toolTip == "Check the volumes to train on."
    )
    ui.dataSourceComboBox.setCurrentIndex(2)
    assert ui.sliceLabelTableSelector.visible


def test_choosing_an_earlier_run_folder_restores_its_settings(a_training_panel, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    saved = {
        "dataFolder": "/data/x",
        "runFolder": str(run),
        "preset": "paper",
        "host": "liver",
        "device": "cpu",
    }
    (run / "slicer_run.json").write_text(json.dumps(saved))
    a_training_panel.ui.runFolderPathLineEdit.currentPathChanged.emit(str(run))
    node = a_training_panel.node
    assert (str(node.dataFolder), node.preset, node.host) == ("/data/x", "paper", "liver")
    assert a_training_panel.ui.statusLabel.text.startswith("An earlier run")


def test_scene_volumes_are_paired_with_their_segmentation_and_built_into_the_run_folder(
    a_training_panel, an_oblique_ct_file, tmp_path
):
    from coin_slicer.node_io import arrayFromNode
    from coin_slicer.scene_helpers import setSegmentMask

    scene = a_training_panel.scene
    ct = scene.load(an_oblique_ct_file)
    seg = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "truth")
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    mask = np.zeros(arrayFromNode(ct).shape, bool)
    mask[5:8, 10:20, 20:30] = True
    setSegmentMask(seg, seg.GetSegmentation().AddEmptySegment("", "lesion"), mask, ct)
    assert a_training_panel.module.pairedSegmentation(scene.scene, ct) is seg
    ui, node = a_training_panel.ui, a_training_panel.node
    ui.dataSourceComboBox.setCurrentIndex(1)
    ui.volumesCheckableComboBox.nodes = [ct]
    node.runFolder = tmp_path / "run"
    folder = Path(a_training_panel.panel._dataFolder())
    assert folder == tmp_path / "run" / "dataset"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["labels"]["lesion"] == 1 and meta["slicer_cases"] == {"case000": "CT"}


def test_a_volume_without_segmentation_needs_a_computed_host(a_training_panel, an_oblique_ct_file, tmp_path):
    scene = a_training_panel.scene
    ct = scene.load(an_oblique_ct_file)
    ui, node = a_training_panel.ui, a_training_panel.node
    node.runFolder = tmp_path / "run"
    ui.dataSourceComboBox.setCurrentIndex(1)
    ui.volumesCheckableComboBox.nodes = [ct]
    node.Modified()
    assert not ui.startButton.enabled
    assert (
        ui.startButton.toolTip
        == "'CT' has no segmentation: set Host organ to body or lung (a mask computed from the CT)."
    )
    node.host = "body"
    node.Modified()
    assert ui.startButton.enabled and ui.startButton.toolTip == ""


def test_the_preset_list_is_every_preset_coin_core_ships_with_its_summary(a_training_panel):
    from coin_core.config import CONFIG_DIR, preset_summary

    combo = a_training_panel.ui.presetComboBox
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert [combo.itemData(i) for i in range(combo.count)] == shipped
    assert {"small", "paper", "kidney"} <= set(shipped)
    tips = [combo.itemData(i, "tooltip") for i in range(combo.count)]
    assert tips == [preset_summary(name) for name in shipped] and all(tips)
