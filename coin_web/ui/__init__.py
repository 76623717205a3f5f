"""The page's widgets, one panel per file (mirrors trame-slicer's ``app/ui``)."""

from .editor_panel import EditorPanelUI
from .files_panel import FilesPanelUI
from .message_banner import MessageBannerUI
from .page_ui import PageUI
from .review_panel import ReviewPanelUI
from .run_panel import RunPanelUI
from .save_panel import SavePanelUI

__all__ = [
    "EditorPanelUI",
    "FilesPanelUI",
    "MessageBannerUI",
    "PageUI",
    "ReviewPanelUI",
    "RunPanelUI",
    "SavePanelUI",
]
