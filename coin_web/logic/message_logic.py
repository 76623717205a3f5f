"""The page's message banner: every logic reports errors and outcomes here, never by raising."""

from __future__ import annotations

from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from ..state import MessageState


class MessageLogic(BaseLogic[MessageState]):
    """Shows one message at a time; ``kind`` is "info", "success" or "error"."""

    def __init__(self, server: Server, slicer_app: SlicerApp) -> None:
        super().__init__(server, slicer_app, MessageState)

    def show(self, text: str, kind: str = "info") -> None:
        """Replace the banner's text (pushed to the browser at once)."""
        with self.state:
            self.data.text, self.data.kind = text, kind

    def error(self, text: str) -> None:
        """Show ``text`` as an error."""
        self.show(text, "error")

    def clear(self) -> None:
        """Hide the banner."""
        self.show("", "info")

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.close_clicked.connect(self.clear)
