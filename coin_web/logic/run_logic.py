"""Generate counterfactual: COINSegmentation's ``SegmentationLogic`` run from the page.

The model runs in the worker process that ``SegmentationLogic`` starts (``python -m coin_core
segment --progress jsonl``). An asyncio task on the server's loop polls ``processEvents()`` a few
times a second, so the page keeps answering clicks and streaming views while the model runs;
Cancel stops the worker's whole process tree (in a thread: the grace period may take seconds).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from coin_slicer.segmentation_logic import SegmentationLogic, SegmentationParameters, hostOrganRequirement

from ..session import Session
from ..state import ModelEntryState, RunState
from .host_logic import SELECT_HOST, HostLogic
from .message_logic import MessageLogic

POLL_SECONDS = 0.1


def progress_percent(event: dict) -> float | None:
    """Percent done of one worker protocol line, or None when its total is unknown."""
    total = event.get("total")
    if not total:
        return None
    return max(0.0, min(100.0, 100.0 * float(event.get("done", 0)) / float(total)))


class RunLogic(BaseLogic[RunState]):
    """Starts, follows and cancels the COIN run on the current CT."""

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        session: Session,
        messages: MessageLogic,
        models: list[tuple[str, str]],
        device: str = "auto",
        host: HostLogic | None = None,
    ) -> None:
        super().__init__(server, slicer_app, RunState)
        self.session, self.messages, self.device, self.host = session, messages, device, host
        self.segmentation_logic = SegmentationLogic(self.scene)
        self.segmentation_logic.progressInfo.connect(self._on_progress)
        self.segmentation_logic.finished.connect(self._on_finished)
        self._task: asyncio.Task | None = None
        # the server's own list: the browser can rewrite ``data.models`` (it is page state), not this
        self._models: tuple[tuple[str, str], ...] = tuple((str(t), str(f)) for t, f in models)
        self.data.models = [ModelEntryState(title, folder) for title, folder in self._models]
        self.data.model_folder = self._models[0][1] if self._models else ""
        self.bind_changes({self.name.model_folder: self._on_model_chosen})
        self._on_model_chosen(self.data.model_folder)

    def _on_model_chosen(self, choice: object) -> None:
        folder = self.resolve_model(choice)
        if self.host is not None:
            self.host.set_required(hostOrganRequirement(folder) if folder else "")

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.generate_clicked.connect(self.generate)
        ui.cancel_clicked.connect(self.cancel)

    def resolve_model(self, choice: object) -> str | None:
        """The listed model folder that the page's choice names, or None.

        Resolved against the list the server was started with, never against the page state (a
        client may rewrite both the list and the choice); the folder that runs is the server's string.
        """
        return next((folder for _title, folder in self._models if folder == choice), None)

    def allowed_model(self, folder: object) -> bool:
        """Only listed models may run (the browser cannot name arbitrary server folders)."""
        return self.resolve_model(folder) is not None

    def generate(self) -> bool:
        """Start the worker on the current CT; False (with a message) when it cannot start."""
        if self.segmentation_logic.isRunning():
            self.messages.error("A run is already going on; cancel it or wait for it to finish.")
            return False
        if self.session.volume_node is None:
            self.messages.error("Open a CT first (file list on the left).")
            return False
        folder = self.resolve_model(self.data.model_folder)
        if folder is None:
            self.messages.error("Choose a model from the list.")
            return False
        host = self.host.choice() if self.host is not None else None
        required = hostOrganRequirement(folder)
        if host is not None and not host[1]:
            self.messages.error("Choose the host organ's label(s) under 'Host organ', or clear it.")
            return False
        if required and host is None:
            self.messages.error(f"{required} {SELECT_HOST}")
            return False
        params = SegmentationParameters(
            str(Path(folder)),
            device=self.device,
            screening=bool(self.data.screening),
            hostMask=host[0] if host else None,
            hostLabels=host[1] if host else None,
        )
        try:
            self.segmentation_logic.process(
                self.session.volume_node, params, outputSegmentation=self.session.segmentation_node
            )
        except Exception as err:  # invalid input or a worker that cannot start: tell the user
            self.messages.error(f"Could not start COIN: {err}")
            self._sync_status(False)
            return False
        self.messages.show("Generating the counterfactual ...")
        with self.state:
            self.data.progress, self.data.progress_text = 0.0, "Starting the worker"
        self._sync_status(True)
        self._task = asyncio.get_event_loop().create_task(self._poll())
        return True

    async def _poll(self) -> None:
        while self.segmentation_logic.processEvents():
            self._sync_status(True)
            await asyncio.sleep(POLL_SECONDS)
        self._sync_status(False)

    async def cancel(self) -> None:
        """Stop the run; the worker's process tree is ended off the event loop."""
        if not self.segmentation_logic.isRunning():
            return
        with self.state:
            self.data.status = "Cancelling"
        await asyncio.to_thread(self.segmentation_logic.cancel)

    async def wait(self) -> None:
        """Wait until the current run's polling task ended (tests and the CLI's --volume start)."""
        if self._task is not None:
            await self._task

    def _sync_status(self, running: bool) -> None:
        with self.state:
            self.data.status = self.segmentation_logic.state.value
            self.data.running = running and self.segmentation_logic.isRunning()
        self.session.busy = self.data.running

    def _on_progress(self, event: dict) -> None:
        percent = progress_percent(event)
        with self.state:
            if percent is not None:
                self.data.progress = percent
            self.data.progress_text = str(event.get("message") or event.get("stage", ""))

    def _on_finished(self, outcome) -> None:  # noqa: ANN001
        if outcome.succeeded:
            with self.state:
                self.data.progress, self.data.progress_text = 100.0, "Done"
            self.session.set_result(outcome.outputs)
            self.messages.show("Counterfactual ready: review the lesion, edit it, then Save.", "success")
        elif outcome.cancelled:
            with self.state:
                self.data.progress, self.data.progress_text = 0.0, "Cancelled"
            self.messages.show("Cancelled; nothing was changed.")
        else:
            with self.state:
                self.data.progress_text = "Failed"
            self.messages.error(f"COIN failed: {outcome.errorMessage}")
