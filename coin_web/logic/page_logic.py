"""The page's root logic: builds every logic around one ``Session`` and connects them to the UI."""

from __future__ import annotations

import asyncio

from trame_server import Server
from trame_slicer.core import SlicerApp

from coin_slicer.lesion_results import LesionResults

from ..data_root import DataRoot
from ..session import Session
from .editor_logic import EditorLogic
from .files_logic import FilesLogic
from .host_logic import HostLogic
from .message_logic import MessageLogic
from .review_logic import ReviewLogic
from .run_logic import RunLogic
from .save_logic import SaveLogic

EDIT_COALESCE_SECONDS = 0.3


def _soon(callback) -> None:  # noqa: ANN001
    """Run ``callback`` shortly on the server's event loop (at once when there is none)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_later(EDIT_COALESCE_SECONDS, callback)


class PageLogic:
    """All logics of the page. Construct without a browser; ``set_ui(ui)`` wires the widgets.

    Args:
        server: the trame server (state and event loop).
        slicer_app: trame-slicer's scene, views and segmentation editor.
        data_root: the only folder the page reads from and writes into.
        models: (title, folder) pairs offered in the model list.
        device: passed to the worker (``auto``, ``cpu``, ``cuda`` ...).
    """

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        data_root: DataRoot,
        models: list[tuple[str, str]],
        device: str = "auto",
    ) -> None:
        self.session = Session()
        self.messages = MessageLogic(server, slicer_app)
        self.files = FilesLogic(server, slicer_app, self.session, data_root, self.messages)
        self.host = HostLogic(server, slicer_app, self.session, data_root, self.messages)
        self.run = RunLogic(server, slicer_app, self.session, self.messages, models, device, self.host)
        # the editor must take the new segmentation before the review counts its voxels
        self.editor = EditorLogic(server, slicer_app, self.session, self.messages)
        # the lesion table follows runs, the threshold and edits (shared with COIN Segmentation)
        self.lesion_results = LesionResults(slicer_app.scene, self.run.segmentation_logic, defer=_soon)
        self.review = ReviewLogic(
            server, slicer_app, self.session, self.messages, self.run.segmentation_logic, self.lesion_results
        )
        self.save = SaveLogic(server, slicer_app, self.session, data_root, self.messages, self.lesion_results)

    def set_ui(self, ui) -> None:  # noqa: ANN001
        """Connect the signals of ``ui`` (a ``coin_web.ui.PageUI``) to the logics."""
        self.messages.set_ui(ui.message)
        self.files.set_ui(ui.files)
        self.run.set_ui(ui.run)
        self.host.set_ui(ui.files, ui.run)
        self.editor.set_ui(ui.editor)
        self.review.set_ui(ui.review)
        self.save.set_ui(ui.save)
