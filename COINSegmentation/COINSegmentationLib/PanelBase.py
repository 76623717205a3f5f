"""Controller plumbing shared by the COIN panels (COINSegmentation and COINTraining): desktop Slicer only.

``LogicPanel`` wires a logic's signals to the panel, polls the logic on a timer, binds the panel to
a parameter node and shows progress, states and errors. Subclasses implement ``onProgress``,
``onStateChanged``, ``onError``, ``onFinished`` and ``_updateActionButton``.

``qt`` and ``slicer.i18n`` are imported when used, not at import: the Widget modules that need them
are (re)imported against whatever ``qt`` is current, and this module follows them.
"""

from __future__ import annotations

import slicer
import vtk
from slicer.util import VTKObservationMixin

from coin_slicer.state import State


def stateLabel(state: State) -> str:
    """The translated name of a state."""
    from slicer.i18n import tr as _

    return {
        State.Idle: _("Idle"),
        State.Starting: _("Starting"),
        State.Running: _("Running"),
        State.Importing: _("Importing results"),
        State.Cancelling: _("Cancelling"),
        State.Failed: _("Failed"),
    }[state]


class LogicPanel(VTKObservationMixin):
    """Base controller: ``logic`` has the Signal/processEvents/isRunning interface of the COIN logics."""

    def __init__(self, ui, logic, doShowInfoWindows: bool, pollIntervalMs: int) -> None:
        import qt

        VTKObservationMixin.__init__(self)
        self.ui = ui
        self.logic = logic
        self.doShowInfoWindows = doShowInfoWindows
        self._parameterNode = None
        self._guiObservation = None
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(pollIntervalMs)
        self._pollTimer.timeout.connect(self._poll)
        self.logic.progressInfo.connect(self.onProgress)
        self.logic.stateChanged.connect(self.onStateChanged)
        self.logic.errorOccurred.connect(self.onError)
        self.logic.finished.connect(self.onFinished)

    def setParameterNode(self, parameterNode) -> None:
        """Bind the panel to ``parameterNode`` or unbind it (None)."""
        if self._parameterNode is not None:
            self._parameterNode.disconnectGui(self._guiObservation)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActionButton)
        self._parameterNode = parameterNode
        if parameterNode is not None:
            self._guiObservation = parameterNode.connectGui(self.ui)
            self.addObserver(parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateActionButton)
        self._updateActionButton()

    def _poll(self) -> None:
        if not self.logic.processEvents():
            self._pollTimer.stop()

    def _showProgress(self, event: dict) -> str:
        """Set the progress bar from a progress event; return its "stage: message" text."""
        total, done = event.get("total"), int(event.get("done") or 0)
        self.ui.progressBar.setMaximum(int(total) if total else 0)  # 0: busy indicator
        self.ui.progressBar.setValue(done)
        return f"{event.get('stage', '')}: {event.get('message', '')}"

    def _showState(self, state: State, button, runningText: str, idleText: str) -> None:
        """Show ``state`` in the status line and on the start/cancel ``button``."""
        running = state in (State.Starting, State.Running)
        button.text = runningText if running else idleText
        button.enabled = running or state in (State.Idle, State.Failed)
        self.ui.statusLabel.text = stateLabel(state)
        if state in (State.Idle, State.Failed):
            self._updateActionButton()

    def _reportError(self, message: str) -> None:
        self.ui.statusLabel.text = message.splitlines()[0]
        if self.doShowInfoWindows:
            slicer.util.errorDisplay(message)
