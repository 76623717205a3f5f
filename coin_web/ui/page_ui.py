"""The page: the COIN panel on the left, axial / coronal / sagittal slice views on the right."""

from __future__ import annotations

from trame.ui.vuetify3 import SinglePageWithDrawerLayout
from trame.widgets.vuetify3 import VDivider
from trame_server import Server
from trame_slicer.app.ui import FlexContainer
from trame_slicer.core import LayoutManager

from .editor_panel import EditorPanelUI
from .files_panel import FilesPanelUI
from .message_banner import MessageBannerUI
from .review_panel import ReviewPanelUI
from .run_panel import RunPanelUI
from .save_panel import SavePanelUI

TITLE = "COIN lesion review"
DRAWER_WIDTH = 380


class PageUI:
    """Builds the page; the panels (``files``, ``run``, ``review``, ``editor``, ``save``, ``message``)
    expose the signals that ``PageLogic.set_ui`` connects."""

    def __init__(self, server: Server, layout_manager: LayoutManager) -> None:
        server.state.trame__title = TITLE
        with SinglePageWithDrawerLayout(server, theme="dark") as self.layout:
            self.layout.title.set_text(TITLE)
            self.layout.drawer.width = DRAWER_WIDTH
            with self.layout.drawer:
                self.message = MessageBannerUI()
                self.files = FilesPanelUI()
                VDivider()
                self.run = RunPanelUI()
                VDivider()
                self.review = ReviewPanelUI()
                VDivider()
                self.editor = EditorPanelUI()
                VDivider()
                self.save = SavePanelUI()
            with self.layout.content, FlexContainer(row=True, fill_height=True):
                layout_manager.initialize_layout_grid(self.layout)
