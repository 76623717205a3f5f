"""COINSegmentation's implementation: the logic (runs on slicer-core), the process runner and the widget.

Only ``Widget``, ``PanelBase`` and ``Parameters`` need desktop Slicer (Qt); import them from their modules.
"""

from .ModelCatalog import ModelEntry, listModels, registerModel
from .ProcessRunner import ProcessResult, ProcessRunner
from .SegmentationLogic import (
    RunOutcome,
    SegmentationLogic,
    SegmentationOutputs,
    SegmentationParameters,
    State,
)
from .Signal import Signal

__all__ = [
    "ModelEntry",
    "ProcessResult",
    "ProcessRunner",
    "RunOutcome",
    "SegmentationLogic",
    "SegmentationOutputs",
    "SegmentationParameters",
    "Signal",
    "State",
    "listModels",
    "registerModel",
]
