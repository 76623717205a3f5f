"""COINSegmentation's widget code against the real logic, scene and worker, with Qt stand-ins.

Qt cannot run here (docs/internals.md, "Slicer code without desktop Slicer"), so ``fake_qt``
provides the few Qt objects the widget touches; everything else (SegmentationWidget,
SegmentationLogic, the worker, the scene) is real.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from fake_qt import (  # noqa: E402
    FakeComboBox,
    FakeParameterNode,
    FakeSegmentSelector,
    FakeSettings,
    FakeWidget,
    fake_qt_module,
)

ROOT = Path(__file__).resolve().parents[2]


def fake_ui(module: str) -> types.SimpleNamespace:
    """One stand-in per widget named in the module's .ui (combo boxes get item lists)."""
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    widgets = {}
    for w in tree.iter("widget"):
        stand_ins = {"QComboBox": FakeComboBox, "qMRMLSegmentSelectorWidget": FakeSegmentSelector}
        cls = stand_ins.get(w.get("class"), FakeWidget)
        widgets[w.get("name")] = cls()
    return types.SimpleNamespace(**widgets)


@pytest.fixture
def a_panel(monkeypatch, a_scene, tmp_path):
    import slicer
    from coin_testkit import make_tiny_model

    monkeypatch.setitem(sys.modules, "qt", fake_qt_module())
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    monkeypatch.setitem(sys.modules, "slicer.i18n", i18n)
    monkeypatch.setattr(slicer, "i18n", i18n, raising=False)
    monkeypatch.setattr(slicer.util, "WaitCursor", contextlib.nullcontext)
    layers = []
    monkeypatch.setattr(slicer.util, "setSliceViewerLayers", lambda **kw: layers.append(kw))
    sys.modules.pop("COINSegmentationLib.Widget", None)
    Widget = importlib.import_module("COINSegmentationLib.Widget")  # imported against the stand-ins
    from coin_slicer.segmentation_logic import SegmentationLogic

    monkeypatch.setattr(Widget, "ensureTorch", lambda askConfirmation: None)  # PyTorchUtils: desktop only
    monkeypatch.setattr(Widget, "ensurePythonPackages", lambda confirm: True)
    models = tmp_path / "models"
    make_tiny_model(models / "tiny")
    monkeypatch.setattr(FakeSettings, "store", {Widget.SETTINGS_MODELS_FOLDER: str(models)})
    ui = fake_ui("COINSegmentation")
    for combo, items in (("deviceComboBox", "auto cpu cuda"), ("postprocessComboBox", "paper 3d none")):
        for item in items.split():
            getattr(ui, combo).addItem(item)
    panel = Widget.SegmentationWidget(ui, SegmentationLogic(a_scene.scene), doShowInfoWindows=False)
    node = FakeParameterNode(inputVolume=None, modelFolder="", device="cpu", screening=False, threshold=0.25,
                             marginMm=0.0, postprocess="paper", outputSegmentation=None,
                             hostSegmentation=None, hostSegmentIds=[])  # fmt: skip
    panel.setParameterNode(node)
    yield types.SimpleNamespace(panel=panel, ui=ui, node=node, layers=layers, scene=a_scene, models=models)
    panel.cleanup()
    sys.modules.pop("COINSegmentationLib.Widget", None)  # never leave a module bound to the stand-ins


def _run_until(panel, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        panel._poll()
        time.sleep(0.05)
    assert condition(), "timed out"


def test_apply_waits_for_an_input_and_the_model_list_sets_the_threshold(a_panel, an_oblique_ct_file):
    ui, node = a_panel.ui, a_panel.node
    assert [item[0] for item in ui.modelComboBox.items if not item[0].startswith("demo")] == ["tiny"]
    from coin_slicer.model_catalog import bundledDemoModel

    demo = bundledDemoModel()  # the bundled demo model is listed first and is the default
    expected = Path(demo) if demo is not None else a_panel.models / "tiny"
    from coin_core.modelfile import read_card

    assert Path(node.modelFolder).resolve() == expected.resolve()
    assert node.threshold == pytest.approx(read_card(expected).threshold)  # the model card's threshold
    assert node.marginMm == pytest.approx(read_card(expected).margin_mm)  # and its margin
    assert not ui.applyButton.enabled and ui.applyButton.toolTip == "Select an input CT volume."
    node.inputVolume = a_panel.scene.load(an_oblique_ct_file)
    node.Modified()
    if read_card(expected).input_crop is not None:  # the bundled model needs the host organ first
        assert not ui.applyButton.enabled and "host organ" in ui.applyButton.toolTip
        node.modelFolder = str(a_panel.models / "tiny")  # a whole-slice model needs none
        node.Modified()
    assert ui.applyButton.enabled and ui.applyButton.text == "Generate counterfactual"


def test_the_button_runs_cancels_and_reruns_and_the_slider_rethresholds(a_panel, an_oblique_ct_file):
    ui, node, panel = a_panel.ui, a_panel.node, a_panel.panel
    node.modelFolder = str(a_panel.models / "tiny")  # a whole-slice model: no host organ needed
    node.inputVolume = a_panel.scene.load(an_oblique_ct_file)
    node.threshold = 0.05
    ids = a_panel.scene.nodeIds()
    ui.applyButton.clicked.emit()
    assert ui.applyButton.text == "Cancel" and panel._pollTimer.active
    _run_until(panel, lambda: ui.progressBar.value > 0 or ":" in ui.statusLabel.text)
    ui.applyButton.clicked.emit()  # the same button cancels
    _run_until(panel, lambda: not panel.logic.isRunning())
    assert ui.statusLabel.text.startswith("Cancelled") and ui.applyButton.text == "Generate counterfactual"
    assert a_panel.scene.nodeIds() == ids
    ui.applyButton.clicked.emit()
    _run_until(panel, lambda: ui.statusLabel.text.startswith("Done"))
    segmentation = ui.show3DButton.segmentationNode
    assert segmentation is not None and segmentation.GetName() == "COIN lesion"
    assert a_panel.layers[-1]["foreground"].GetName().endswith("COIN difference")
    node.threshold = 0.9
    panel.onRethreshold()
    assert (
        ui.statusLabel.text.startswith(f"Threshold 0.90, margin {node.marginMm:g} mm:")
        and segmentation.GetAttribute("COIN.threshold") == "0.9"
    )


def test_a_models_margin_becomes_the_default_reaches_the_worker_and_the_spin_box_regrows_the_mask(
    a_panel, an_oblique_ct_file, recorded_argv
):
    """The card's margin fills the spin box; the run and every re-threshold use the panel's margin."""
    import shutil

    import numpy as np

    from coin_core.infer import threshold_difference
    from coin_core.modelfile import threshold_source, write_threshold
    from coin_slicer.node_io import volumeFromNode

    ui, node, panel = a_panel.ui, a_panel.node, a_panel.panel
    wide = Path(shutil.copytree(a_panel.models / "tiny", a_panel.models / "wide"))
    write_threshold(wide, 0.05, threshold_source("val", "paper", 0.2, 8), margin_mm=3.0)
    panel.refreshModels()
    pick = {item[0]: i for i, item in enumerate(ui.modelComboBox.items)}
    ui.modelComboBox.setCurrentIndex(pick["tiny"])
    assert (node.threshold, node.marginMm) == (0.25, 0.0)  # a card without a margin: the paper's masks
    ui.modelComboBox.setCurrentIndex(pick["wide"])
    assert (node.threshold, node.marginMm) == (0.05, 3.0)  # the card's tuned threshold and margin
    node.inputVolume = a_panel.scene.load(an_oblique_ct_file)
    node.Modified()
    ui.applyButton.clicked.emit()
    _run_until(panel, lambda: ui.statusLabel.text.startswith("Done"))
    (argv,) = recorded_argv
    assert float(argv[argv.index("--margin-mm") + 1]) == 3.0
    segmentation = ui.show3DButton.segmentationNode
    difference = volumeFromNode(segmentation.GetNodeReference("COIN.difference"))

    def lesion():
        segmentId = segmentation.GetAttribute("COIN.segmentId")
        return a_panel.scene.segmentArray(segmentation, segmentId, node.inputVolume) > 0

    grown = lesion()
    assert np.array_equal(grown, threshold_difference(difference, 0.05, "paper", margin_mm=3.0).array > 0)
    assert segmentation.GetAttribute("COIN.marginMm") == "3.0"
    node.marginMm = 0.0
    ui.marginSpinBox.valueChanged.emit(0.0)  # the spin box re-segments, like the slider
    assert panel._rethresholdTimer.active
    panel.onRethreshold()  # the timer's slot
    plain = lesion()
    assert np.array_equal(plain, threshold_difference(difference, 0.05, "paper").array > 0)
    assert plain.any() and grown.sum() > plain.sum() and segmentation.GetAttribute("COIN.marginMm") == "0.0"
    assert ui.statusLabel.text == f"Threshold 0.05, margin 0 mm: {int(plain.sum())} lesion voxels."


def test_a_failed_start_is_reported_in_the_status_line(a_panel, an_oblique_ct_file, tmp_path):
    ui, node = a_panel.ui, a_panel.node
    node.inputVolume = a_panel.scene.load(an_oblique_ct_file)
    node.modelFolder = str(tmp_path / "missing")
    ui.applyButton.clicked.emit()
    assert ui.statusLabel.text.startswith("Failed to start COIN") and not a_panel.panel.logic.isRunning()


def test_lesion_table_and_save_as_dicom_seg_for_a_dicom_input(a_panel, tmp_path):
    """CT loaded from pydicom's CT series: the table view shows the lesion table, the SEG references it."""
    import numpy as np
    import pydicom
    from dicom_testkit import check_seg_against_source

    from coin_core.infer.lesion_table import measure_lesions
    from coin_slicer.node_io import volumeFromNode

    ui, node, panel = a_panel.ui, a_panel.node, a_panel.panel
    series = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    node.inputVolume = a_panel.scene.load(
        sorted(series.iterdir())[0]
    )  # the archetype reader reads the series
    node.modelFolder, node.threshold, node.postprocess = str(a_panel.models / "tiny"), 0.07, "none"
    ui.applyButton.clicked.emit()
    _run_until(panel, lambda: ui.statusLabel.text.startswith("Done"))
    segmentation = ui.show3DButton.segmentationNode
    table = ui.lesionTableView.mrmlTableNode
    assert table is not None and table.GetName() == "CT COIN lesions"
    ct = volumeFromNode(node.inputVolume)
    mask = a_panel.scene.segmentArray(
        segmentation, segmentation.GetAttribute("COIN.segmentId"), node.inputVolume
    )
    assert mask.any()
    assert table.GetNumberOfRows() == len(measure_lesions(ct.with_array(mask), ct))
    assert ui.saveDicomSegButton.enabled
    target = tmp_path / "saved" / "lesion_seg.dcm"
    sys.modules["qt"].QFileDialog.getSaveFileName = lambda *a: str(target)
    ui.saveDicomSegButton.clicked.emit()
    assert ui.statusLabel.text == f"Saved {target}"
    check_seg_against_source(target, series, (mask > 0).astype(np.uint8))


def test_a_box_model_waits_for_the_host_organ_and_the_run_gets_it(
    a_panel, an_oblique_ct_file, recorded_argv, tmp_path
):
    """A box model (card input_crop) disables Apply until host segments are checked; they reach the worker."""
    import shutil

    from coin_testkit import add_host_box
    from host_organ_kit import add_segmentation, organ_masks

    ui, node, panel = a_panel.ui, a_panel.node, a_panel.panel
    boxed = add_host_box(Path(shutil.copytree(a_panel.models / "tiny", a_panel.models / "boxed")))
    panel.refreshModels()
    node.inputVolume = a_panel.scene.load(an_oblique_ct_file)
    node.threshold = 0.05
    ui.modelComboBox.setCurrentIndex(
        next(i for i, item in enumerate(ui.modelComboBox.items) if item[0] == "boxed")
    )
    assert Path(node.modelFolder) == boxed
    assert not ui.applyButton.enabled and "108 x 216 mm box around the host organ" in ui.applyButton.toolTip
    assert "under 'Host organ'" in ui.applyButton.toolTip and ui.statusLabel.text == ui.applyButton.toolTip
    assert ui.hostOrganLabel.text == "Host organ (required):"
    organs, ids = add_segmentation(a_panel.scene.scene, node.inputVolume, organ_masks(an_oblique_ct_file))
    ui.hostSegmentSelector.setCurrentNode(organs)  # three segments: none is taken for the user
    assert node.hostSegmentation is organs and node.hostSegmentIds == [] and not ui.applyButton.enabled
    ui.hostSegmentSelector.setSelectedSegmentIDs([ids["kidney_left"], ids["kidney_right"]])
    node.Modified()  # the parameter node wrapper fires this in Slicer
    assert node.hostSegmentIds == [ids["kidney_left"], ids["kidney_right"]] and ui.applyButton.enabled
    ui.applyButton.clicked.emit()
    _run_until(panel, lambda: ui.statusLabel.text.startswith("Done"))
    (argv,) = recorded_argv
    assert argv[argv.index("--model") + 1] == str(boxed) and "--host-mask" in argv
    assert ui.show3DButton.segmentationNode.GetName() == "COIN lesion"
    ui.modelComboBox.setCurrentIndex(
        next(i for i, item in enumerate(ui.modelComboBox.items) if item[0] == "tiny")
    )
    assert (
        ui.hostOrganLabel.text == "Host organ:" and ui.applyButton.enabled
    )  # optional for whole-slice models
    single, _ = add_segmentation(
        a_panel.scene.scene,
        node.inputVolume,
        {"kidneys": organ_masks(an_oblique_ct_file)["kidney_left"]},
        "one",
    )
    ui.hostSegmentSelector.setCurrentNode(single)  # one segment: taken at once
    assert node.hostSegmentIds == [single.GetSegmentation().GetNthSegmentID(0)]
    assert ui.hostSegmentSelector.selectedSegmentIDs() == node.hostSegmentIds
