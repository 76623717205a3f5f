"""The page's logics, one concern per file (mirrors trame-slicer's ``app/logic``)."""

from .editor_logic import EditorLogic
from .files_logic import FilesLogic
from .host_logic import HostLogic
from .message_logic import MessageLogic
from .page_logic import PageLogic
from .review_logic import ReviewLogic
from .run_logic import RunLogic
from .save_logic import SaveLogic

__all__ = [
    "EditorLogic",
    "FilesLogic",
    "HostLogic",
    "MessageLogic",
    "PageLogic",
    "ReviewLogic",
    "RunLogic",
    "SaveLogic",
]
