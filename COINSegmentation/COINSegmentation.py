"""COINSegmentation: lesion segmentation by counterfactual inpainting (COIN) in 3D Slicer.

This file only registers the module, hosts the panel and hands its self-test to pytest. The work is
in the coin_slicer package (SegmentationLogic and the process runner, run without Qt) and in
COINSegmentationLib (Widget, Parameters, PanelBase, the dependency prompt: desktop Slicer only).
"""

import os
from pathlib import Path

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


class COINSegmentation(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("COIN Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["COIN for 3D Slicer contributors"]
        self.parent.helpText = _(
            "Generate a lesion-free counterfactual of a CT volume with a COIN model, show the difference "
            "map as an overlay and segment the lesion by thresholding it. The network runs in a background "
            "process; click the button again to cancel. Move the threshold slider or the margin (mm the "
            "mask is grown by; the model's tuned margin by default, 0 = the paper's masks) to re-segment "
            "at once."
        )
        self.parent.acknowledgementText = _(
            "Method: Shvetsov et al., 'COIN: Counterfactual inpainting for weakly supervised semantic "
            "segmentation for medical images' (2024). Structure after KitwareMedical/SlicerNNUnet."
        )


class COINSegmentationLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node; the processing logic is coin_slicer.SegmentationLogic."""

    def getParameterNode(self):
        from COINSegmentationLib.Parameters import COINSegmentationParameterNode

        return COINSegmentationParameterNode(super().getParameterNode())


class COINSegmentationWidget(ScriptedLoadableModuleWidget):
    """Thin shell: loads the .ui and hands it to COINSegmentationLib.Widget."""

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from COINSegmentationLib.Widget import SegmentationWidget

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/COINSegmentation.ui"))
        self.layout.addWidget(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = COINSegmentationLogic()
        self.panel = SegmentationWidget(slicer.util.childWidgetVariables(uiWidget))
        self.panel.setParameterNode(self.logic.getParameterNode())

    def enter(self):
        """Called each time the module is opened: the scene may have been replaced meanwhile."""
        self.panel.setParameterNode(self.logic.getParameterNode())

    def onSceneEndClose(self, caller, event):
        """Called after the scene was closed: bind to the new scene's parameter node."""
        if self.parent.isEntered:
            self.panel.setParameterNode(self.logic.getParameterNode())

    def cleanup(self):
        """Called when the application closes and the module widget is destroyed."""
        self.panel.cleanup()


def runPytestCases(testFiles, testCase):
    """Run the repository's pytest cases inside this Slicer; skip (with a message) when not shipped."""
    root = Path(os.path.dirname(os.path.abspath(__file__))).parent / "Testing" / "slicer_ext"
    paths = [str(root / name) for name in testFiles if (root / name).is_file()]
    if not paths:
        testCase.delayDisplay(
            _("The pytest cases are not shipped with the extension; run them from a source checkout.")
        )
        return
    try:
        import pytest
    except ImportError:
        slicer.util.pip_install("pytest")
        import pytest
    exitCode = pytest.main([*paths, "-q", "-p", "no:cacheprovider"])
    testCase.assertEqual(exitCode, 0, f"pytest failed on {paths}")


class COINSegmentationTest(ScriptedLoadableModuleTest):
    """The same test cases as CI (Testing/slicer_ext), run inside desktop Slicer."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        runPytestCases(
            [
                "test_process_runner.py",
                "test_segmentation_import.py",
                "test_segmentation_worker.py",
                "test_host_organ.py",
            ],
            self,
        )
