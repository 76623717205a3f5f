"""COINTraining: train a COIN model on your own data from inside 3D Slicer.

This file only registers the module, hosts the panel and hands its self-test to pytest. The work is
in the coin_slicer package (TrainingLogic, the dataset builder and the curves run without Qt) and in
COINTrainingLib (Widget, Parameters; the panel base and dependency prompt come from COINSegmentationLib).
"""

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


class COINTraining(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("COIN Training")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["COINSegmentation"]
        self.parent.contributors = ["COIN for 3D Slicer contributors"]
        self.parent.helpText = _(
            "Train a COIN model on a dataset folder, or on volumes in the scene with their segmentations or "
            "with a table of slice labels. Curves update live in the plot view; Stop keeps a checkpoint and "
            "Start on the same output folder resumes, also after restarting Slicer. The finished model is "
            "listed in COIN Segmentation."
        )
        self.parent.acknowledgementText = _(
            "Method: Shvetsov et al., 'COIN: Counterfactual inpainting for weakly supervised semantic "
            "segmentation for medical images' (2024)."
        )


class COINTrainingLogic(ScriptedLoadableModuleLogic):
    """Holds the module's parameter node; the processing logic is coin_slicer.TrainingLogic."""

    def getParameterNode(self):
        from COINTrainingLib.Parameters import COINTrainingParameterNode

        return COINTrainingParameterNode(super().getParameterNode())


class COINTrainingWidget(ScriptedLoadableModuleWidget):
    """Thin shell: loads the .ui and hands it to COINTrainingLib.Widget."""

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from COINTrainingLib.Widget import TrainingWidget

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/COINTraining.ui"))
        self.layout.addWidget(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = COINTrainingLogic()
        self.panel = TrainingWidget(slicer.util.childWidgetVariables(uiWidget))
        self.panel.setParameterNode(self.logic.getParameterNode())

    def enter(self):
        """Called each time the module is opened: the scene may have been replaced meanwhile."""
        self.panel.setParameterNode(self.logic.getParameterNode())

    def cleanup(self):
        """Called when the application closes and the module widget is destroyed."""
        self.panel.cleanup()


class COINTrainingTest(ScriptedLoadableModuleTest):
    """The same test cases as CI (Testing/slicer_ext), run inside desktop Slicer."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from COINSegmentation import runPytestCases

        self.setUp()
        runPytestCases(["test_training_logic.py", "test_training_worker.py"], self)
