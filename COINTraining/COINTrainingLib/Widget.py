"""The COINTraining panel: pick data, Start / Stop, live curves in the plot view (desktop Slicer only)."""

from __future__ import annotations

from pathlib import Path

import slicer
from COINSegmentationLib.Dependencies import ensurePythonPackages, ensureTorch
from COINSegmentationLib.PanelBase import LogicPanel
from slicer.i18n import tr as _

from coin_slicer.dataset_builder import buildDatasetFromScene
from coin_slicer.state import State
from coin_slicer.training_logic import (
    TrainingLogic,
    TrainingParameters,
    canResume,
    hostProblem,
    loadRunParameters,
)

SOURCE_FOLDER, SOURCE_SEGMENTATIONS, SOURCE_TABLE = 0, 1, 2


def pairedSegmentation(scene, volumeNode):
    """The segmentation whose reference geometry is ``volumeNode`` (the last one added), or None."""
    found = None
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
        segmentation = scene.GetNthNodeByClass(index, "vtkMRMLSegmentationNode")
        role = segmentation.GetReferenceImageGeometryReferenceRole()
        if segmentation.GetNodeReference(role) is volumeNode:
            found = segmentation
    return found


def fillPresets(combo) -> None:
    """Every training preset coin_core ships (coin_core/configs), its leading comment as tooltip."""
    import qt

    from coin_core.config import preset_names, preset_summary

    combo.clear()
    for name in preset_names():
        combo.addItem(name, name)
        combo.setItemData(combo.count - 1, preset_summary(name), qt.Qt.ToolTipRole)


class TrainingWidget(LogicPanel):
    """Controller of the training panel; ``logic`` can be any object with TrainingLogic's interface."""

    def __init__(self, ui, logic: TrainingLogic | None = None, doShowInfoWindows: bool = True) -> None:
        LogicPanel.__init__(
            self, ui, logic or TrainingLogic(slicer.mrmlScene), doShowInfoWindows, pollIntervalMs=500
        )
        fillPresets(self.ui.presetComboBox)
        self.ui.startButton.clicked.connect(self.onStartClicked)
        self.ui.dataSourceComboBox.currentIndexChanged.connect(self._updateSourceWidgets)
        self.ui.runFolderPathLineEdit.currentPathChanged.connect(self.onRunFolderChanged)
        self._updateSourceWidgets()
        self.onStateChanged(State.Idle)

    def cleanup(self) -> None:
        """Called when the module is closed: a running training keeps going only while Slicer runs."""
        self._pollTimer.stop()
        self.logic.stop()
        self.setParameterNode(None)

    def _updateSourceWidgets(self, index=None) -> None:
        source = self.ui.dataSourceComboBox.currentIndex
        self.ui.dataFolderPathLineEdit.visible = self.ui.dataFolderLabel.visible = source == SOURCE_FOLDER
        self.ui.volumesCheckableComboBox.visible = self.ui.volumesLabel.visible = source != SOURCE_FOLDER
        self.ui.sliceLabelTableSelector.visible = self.ui.sliceLabelTableLabel.visible = (
            source == SOURCE_TABLE
        )
        self._updateActionButton()

    def onRunFolderChanged(self, path: str) -> None:
        if path and canResume(path) and not self.logic.isRunning():
            previous = loadRunParameters(path)
            self._parameterNode.dataFolder = Path(previous.dataFolder)
            self._parameterNode.preset = previous.preset
            self._parameterNode.host = previous.host
            self.ui.dataSourceComboBox.currentIndex = SOURCE_FOLDER
            self.ui.statusLabel.text = _("An earlier run is in this folder: Start resumes it.")
        self._updateActionButton()

    def _updateActionButton(self, caller=None, event=None) -> None:
        if self.logic.isRunning():
            return
        node, reason = self._parameterNode, ""
        if node is None or not str(node.runFolder) or str(node.runFolder) == ".":
            reason = _("Choose an output folder.")
        elif self.ui.dataSourceComboBox.currentIndex == SOURCE_FOLDER and str(node.dataFolder) in ("", "."):
            reason = _("Choose a dataset folder.")
        elif (
            self.ui.dataSourceComboBox.currentIndex != SOURCE_FOLDER
            and not self.ui.volumesCheckableComboBox.checkedNodes()
        ):
            reason = _("Check the volumes to train on.")
        elif self.ui.dataSourceComboBox.currentIndex != SOURCE_FOLDER:
            bare = [
                v.GetName()
                for v in self.ui.volumesCheckableComboBox.checkedNodes()
                if pairedSegmentation(slicer.mrmlScene, v) is None
            ]
            reason = hostProblem(str(node.host), bare)
        self.ui.startButton.enabled = not reason
        self.ui.startButton.toolTip = reason

    def _dataFolder(self) -> str:
        node, source = self._parameterNode, self.ui.dataSourceComboBox.currentIndex
        if source == SOURCE_FOLDER:
            return str(node.dataFolder)
        folder = Path(node.runFolder) / "dataset"
        if not (folder / "dataset.json").is_file():
            volumes = self.ui.volumesCheckableComboBox.checkedNodes()
            # the host organ comes from each volume's segmentation (or, for volumes without one, from
            # the CT itself: host body / lung); a table only adds image-level labels
            cases = [(v, pairedSegmentation(slicer.mrmlScene, v)) for v in volumes]
            table = node.sliceLabelTable if source == SOURCE_TABLE else None
            buildDatasetFromScene(slicer.mrmlScene, cases, folder, sliceLabelTable=table)
        return str(folder)

    def onStartClicked(self) -> None:
        if self.logic.isRunning():
            self.logic.stop()
            return
        node = self._parameterNode
        try:
            with slicer.util.WaitCursor():
                ensureTorch(askConfirmation=True)
                if not ensurePythonPackages(slicer.util.confirmOkCancelDisplay):
                    return
                params = TrainingParameters(
                    self._dataFolder(), str(node.runFolder), node.preset, node.host, node.device
                )
            self.logic.start(params)
        except Exception as err:  # shown to the user; nothing was started
            self._reportError(_("Failed to start training: {error}").format(error=err))
            return
        slicer.modules.plots.logic().ShowChartInLayout(self.logic.plot.lossChart)
        self._pollTimer.start()

    def onProgress(self, event: dict) -> None:
        self.ui.statusLabel.text = self._showProgress(event)
        summary = self.logic.summary()
        if summary:
            self.ui.metricsLabel.text = _("Validation: ") + ", ".join(
                f"{key} {value:.3g}" for key, value in summary.items() if isinstance(value, float)
            )

    def onStateChanged(self, state: State) -> None:
        self._showState(state, self.ui.startButton, _("Stop"), _("Start training"))

    def onError(self, message: str) -> None:
        self._reportError(_("Training failed:\n\n{message}").format(message=message))

    def onFinished(self, outcome) -> None:
        self._pollTimer.stop()
        if outcome.stopped:
            self.ui.statusLabel.text = _("Stopped. Start again with the same output folder to resume.")
        elif outcome.succeeded:
            self.ui.statusLabel.text = _(
                "Done. The model '{name}' is now listed in COIN Segmentation."
            ).format(name=Path(outcome.registeredModel or outcome.modelFolder).name)
            if outcome.errorMessage:
                self._reportError(outcome.errorMessage)
