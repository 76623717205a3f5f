"""The COINSegmentation panel: binds the .ui to the parameter node and drives SegmentationLogic.

Desktop Slicer only (Qt). All work is in the logic; this class turns clicks into logic calls and
logic signals into progress, status text and dialogs. States (shown in the status line):
Idle -> Starting -> Running -> Importing -> Idle, or Cancelling -> Idle, or Failed.
"""

from __future__ import annotations

import qt
import slicer
from slicer.i18n import tr as _

from coin_core.infer.postprocess import MAX_MARGIN_MM, POSTPROCESS_MODES
from coin_slicer.lesion_results import REF_LESION_TABLE, LesionResults, dicomSourceFolder
from coin_slicer.model_catalog import defaultModelsFolder, isModelFolder, listModels
from coin_slicer.segmentation_logic import (
    ATTR_SEGMENT_ID,
    SELECT_HOST,
    SegmentationLogic,
    SegmentationParameters,
    State,
    hostOrganRequirement,
    modelDefaults,
)

from .Dependencies import ensurePythonPackages, ensureTorch
from .PanelBase import LogicPanel, stateLabel

__all__ = ["SegmentationWidget", "stateLabel"]

SETTINGS_MODELS_FOLDER = "COIN/ModelsFolder"
SETTINGS_EXTRA_FOLDERS = "COIN/ExtraModelFolders"


class SegmentationWidget(LogicPanel):
    """Controller of the panel; ``logic`` can be any object with SegmentationLogic's interface."""

    def __init__(self, ui, logic: SegmentationLogic | None = None, doShowInfoWindows: bool = True) -> None:
        LogicPanel.__init__(
            self, ui, logic or SegmentationLogic(slicer.mrmlScene), doShowInfoWindows, pollIntervalMs=100
        )
        self._lastSegmentation = None
        self._hostRequirement = (None, "")  # (model folder, hostOrganRequirement of it)
        self._settingHost = False
        # the table follows the segment; edits are measured once per 300 ms, not once per event
        self.lesionResults = LesionResults(
            self.logic.scene, self.logic, defer=lambda callback: qt.QTimer.singleShot(300, callback)
        )
        self._rethresholdTimer = qt.QTimer()
        self._rethresholdTimer.setSingleShot(True)
        self._rethresholdTimer.setInterval(150)
        self._rethresholdTimer.timeout.connect(self.onRethreshold)
        self.ui.postprocessComboBox.clear()
        for mode in POSTPROCESS_MODES:
            self.ui.postprocessComboBox.addItem(mode, mode)
        self.ui.marginSpinBox.maximum = MAX_MARGIN_MM
        self.ui.applyButton.clicked.connect(self.onApplyClicked)
        self.ui.addModelFolderButton.clicked.connect(self.onAddModelFolder)
        self.ui.saveDicomSegButton.clicked.connect(self.onSaveDicomSeg)
        self.ui.modelComboBox.currentIndexChanged.connect(self.onModelChanged)
        self.ui.hostSegmentSelector.connect(
            "currentNodeChanged(vtkMRMLNode*)", self.onHostSegmentationChanged
        )
        self.ui.hostSegmentSelector.connect(
            "segmentSelectionChanged(QStringList)", self.onHostSegmentsChanged
        )
        self.ui.thresholdSlider.valueChanged.connect(lambda value: self._rethresholdTimer.start())
        self.ui.marginSpinBox.valueChanged.connect(lambda value: self._rethresholdTimer.start())
        self.ui.postprocessComboBox.currentIndexChanged.connect(lambda index: self._rethresholdTimer.start())
        self.refreshModels()
        self.onStateChanged(State.Idle)

    def cleanup(self) -> None:
        """Called when the module is closed: stop timers and any running worker."""
        self._pollTimer.stop()
        self._rethresholdTimer.stop()
        self.logic.cancel()
        self.setParameterNode(None)

    def setParameterNode(self, parameterNode) -> None:
        """Bind the panel to ``parameterNode`` (a COINSegmentationParameterNode) or unbind it."""
        LogicPanel.setParameterNode(self, parameterNode)
        if parameterNode is not None:
            self._selectModel(parameterNode.modelFolder)

    def modelsFolder(self) -> str:
        return str(qt.QSettings().value(SETTINGS_MODELS_FOLDER, str(defaultModelsFolder())))

    def extraModelFolders(self) -> list[str]:
        value = qt.QSettings().value(SETTINGS_EXTRA_FOLDERS, [])
        return [value] if isinstance(value, str) else list(value or [])

    def refreshModels(self) -> None:
        """Fill the model list: demo model, models folder, added folders."""
        combo = self.ui.modelComboBox
        current = combo.itemData(combo.currentIndex) if combo.count else None
        wasBlocked = combo.blockSignals(True)
        combo.clear()
        for entry in listModels(self.modelsFolder(), self.extraModelFolders()):
            combo.addItem(entry.name, entry.folder)
            combo.setItemData(combo.count - 1, entry.description or entry.folder, qt.Qt.ToolTipRole)
        combo.blockSignals(wasBlocked)
        self._selectModel(current or (self._parameterNode.modelFolder if self._parameterNode else ""))

    def _selectModel(self, folder: str) -> None:
        combo = self.ui.modelComboBox
        index = next((i for i in range(combo.count) if combo.itemData(i) == folder), 0 if combo.count else -1)
        combo.setCurrentIndex(index)
        self.onModelChanged(index)

    def onModelChanged(self, index: int) -> None:
        folder = self.ui.modelComboBox.itemData(index) if index >= 0 else ""
        if self._parameterNode is not None and folder and folder != self._parameterNode.modelFolder:
            self._parameterNode.modelFolder = folder
            try:  # the card's tuned threshold and margin, as `coin segment` would use them
                self._parameterNode.threshold, self._parameterNode.marginMm = modelDefaults(folder)
            except ValueError as err:  # the run would fail with the same message; say it now
                self._reportError(str(err))
        self._updateActionButton()

    def onAddModelFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(None, _("Choose a COIN model folder"))
        if not folder:
            return
        if not isModelFolder(folder):
            message = _("'{folder}' has no model.json; choose the folder that holds the model card.")
            self._reportError(message.format(folder=folder))
            return
        qt.QSettings().setValue(SETTINGS_EXTRA_FOLDERS, [*self.extraModelFolders(), folder])
        if self._parameterNode is not None:
            self._parameterNode.modelFolder = folder
        self.refreshModels()

    def onHostSegmentationChanged(self, segmentation) -> None:
        """A new host-organ segmentation: its only segment is taken at once, else the user checks them."""
        if self._parameterNode is None:
            return
        segments = segmentation.GetSegmentation() if segmentation is not None else None
        only = [segments.GetNthSegmentID(0)] if segments and segments.GetNumberOfSegments() == 1 else []
        self._settingHost = True  # two fields, one change: the selector must not follow the first alone
        try:
            self._parameterNode.hostSegmentIds = only
            self._parameterNode.hostSegmentation = segmentation
        finally:
            self._settingHost = False
        self._updateActionButton()

    def onHostSegmentsChanged(self, segmentIds) -> None:
        if self._parameterNode is not None:
            self._parameterNode.hostSegmentIds = [str(s) for s in segmentIds]

    def _showHostOrgan(self, node, required: str) -> None:
        """The host selector and its label follow the parameter node and the model."""
        selector = self.ui.hostSegmentSelector
        wasBlocked = selector.blockSignals(True)
        try:
            if selector.currentNode() is not node.hostSegmentation:
                selector.setCurrentNode(node.hostSegmentation)
            if list(selector.selectedSegmentIDs()) != list(node.hostSegmentIds):
                selector.setSelectedSegmentIDs(list(node.hostSegmentIds))
        finally:
            selector.blockSignals(wasBlocked)
        self.ui.hostOrganLabel.text = _("Host organ (required):") if required else _("Host organ:")

    def _modelHostRequirement(self, folder: str) -> str:
        if self._hostRequirement[0] != folder:  # read the card once per model, not on every slider move
            self._hostRequirement = (folder, hostOrganRequirement(folder) if folder else "")
        return self._hostRequirement[1]

    def _updateActionButton(self, caller=None, event=None) -> None:
        node = self._parameterNode
        required = self._modelHostRequirement(node.modelFolder) if node is not None else ""
        if node is not None and not self._settingHost:
            self._showHostOrgan(node, required)
        if self.logic.isRunning():
            return
        reason = ""
        if node is None or node.inputVolume is None:
            reason = _("Select an input CT volume.")
        elif not node.modelFolder:
            reason = _("Select a model, or add a model folder.")
        elif required and (node.hostSegmentation is None or not node.hostSegmentIds):
            reason = self.ui.statusLabel.text = f"{required} {SELECT_HOST}"  # not only in a tooltip
        elif node.hostSegmentation is not None and not node.hostSegmentIds:
            reason = self.ui.statusLabel.text = _(
                "Check the host organ's segment(s) under 'Host organ', or set it to None."
            )
        self.ui.applyButton.enabled = not reason
        self.ui.applyButton.toolTip = reason or _("Run COIN in a background process. Click again to cancel.")

    def onApplyClicked(self) -> None:
        if self.logic.isRunning():
            self.logic.cancel()
            self._poll()
            return
        node = self._parameterNode
        try:
            with slicer.util.WaitCursor():
                ensureTorch(askConfirmation=True)
                if not ensurePythonPackages(slicer.util.confirmOkCancelDisplay):
                    return
            parameters = SegmentationParameters(
                node.modelFolder, node.device, node.screening, node.threshold, node.postprocess, node.marginMm
            )
            host = node.hostSegmentation
            self.logic.process(
                node.inputVolume,
                parameters,
                outputSegmentation=node.outputSegmentation,
                hostSegmentation=host,
                hostSegmentIds=list(node.hostSegmentIds) if host is not None else None,
            )
        except Exception as err:  # every start failure is shown, nothing was added to the scene
            self._reportError(_("Failed to start COIN: {error}").format(error=err))
            return
        self._pollTimer.start()

    def onProgress(self, event: dict) -> None:
        text = self._showProgress(event)
        eta = (event.get("metrics") or {}).get("eta_s")
        if eta is not None:
            text += " " + _("(about {minutes}:{seconds:02d} left)").format(
                minutes=int(eta) // 60, seconds=int(eta) % 60
            )
        self.ui.statusLabel.text = text

    def onStateChanged(self, state: State) -> None:
        self._showState(state, self.ui.applyButton, _("Cancel"), _("Generate counterfactual"))

    def onError(self, message: str) -> None:
        self._reportError(
            _("COIN failed; the scene was left as it was.\n\n{message}").format(message=message)
        )

    def onFinished(self, outcome) -> None:
        self._pollTimer.stop()
        self.ui.progressBar.setMaximum(100)
        self.ui.progressBar.setValue(100 if outcome.succeeded else 0)
        if outcome.cancelled:
            self.ui.statusLabel.text = _("Cancelled; the scene was left as it was.")
        if not outcome.succeeded:
            return
        outputs = outcome.outputs
        self._lastSegmentation = outputs.segmentation
        self.ui.show3DButton.setSegmentationNode(outputs.segmentation)
        self.ui.lesionTableView.setMRMLTableNode(outputs.segmentation.GetNodeReference(REF_LESION_TABLE))
        inputVolume = outputs.segmentation.GetNodeReference("COIN.input")
        source = dicomSourceFolder(inputVolume)
        self.ui.saveDicomSegButton.enabled = source is not None
        self.ui.saveDicomSegButton.toolTip = (
            _("Write the lesion as a DICOM SEG referencing {folder}.").format(folder=source)
            if source
            else _(
                "The input was not loaded from a DICOM series; save the segmentation as .seg.nrrd instead."
            )
        )
        slicer.util.setSliceViewerLayers(
            background=inputVolume, foreground=outputs.difference, foregroundOpacity=0.5
        )
        self.ui.statusLabel.text = _("Done. Move the threshold or margin to re-segment without re-running.")

    def onRethreshold(self) -> None:
        node = self._parameterNode
        segmentation = (node.outputSegmentation if node else None) or self._lastSegmentation
        if node is None or segmentation is None or not segmentation.GetAttribute(ATTR_SEGMENT_ID):
            return
        if self.logic.isRunning():
            return
        try:
            count = self.logic.rethreshold(segmentation, node.threshold, node.postprocess, node.marginMm)
        except Exception as err:  # shown to the user; the segmentation keeps its last mask
            self._reportError(_("Failed to re-threshold: {error}").format(error=err))
            return
        text = _("Threshold {threshold:.2f}, margin {margin:g} mm: {count} lesion voxels.")
        self.ui.statusLabel.text = text.format(threshold=node.threshold, margin=node.marginMm, count=count)

    def onSaveDicomSeg(self) -> None:
        """Ask for a file name and write the lesion segment as a DICOM SEG next to the source series."""
        node = self._parameterNode
        segmentation = (node.outputSegmentation if node else None) or self._lastSegmentation
        inputVolume = segmentation.GetNodeReference("COIN.input") if segmentation else None
        source = dicomSourceFolder(inputVolume)
        if segmentation is None or source is None:
            self._reportError(
                _("Save as DICOM SEG needs a COIN segmentation of a CT loaded from a DICOM series.")
            )
            return
        default = f"{inputVolume.GetName()}_lesion_seg.dcm"
        path = qt.QFileDialog.getSaveFileName(
            None, _("Save the lesion as DICOM SEG"), default, "DICOM (*.dcm)"
        )
        if not path:
            return
        try:
            written = self.lesionResults.saveDicomSeg(segmentation, path, source)
        except Exception as err:  # a CoinError says what is wrong and what to do; nothing was written
            self._reportError(_("Could not save the DICOM SEG: {error}").format(error=err))
            return
        self.ui.statusLabel.text = _("Saved {path}").format(path=written)
