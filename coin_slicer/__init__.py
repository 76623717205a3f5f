"""The Slicer-free scene and worker layer of COIN: MRML nodes in, the ``coin`` worker, MRML nodes out.

Shared by the two Slicer modules (COINSegmentation, COINTraining), the web review page (coin_web)
and ``scripts/coin_batch.py``. Everything here runs on slicer-core (``slicer`` without Qt); only
the modules' ``*Lib`` folders (widget, parameters, panel base, dependency prompt) need desktop Slicer.
The Slicer extension copies this package next to ``coin_core`` (COINSegmentation/CMakeLists.txt).

Modules: ``segmentation_logic`` and ``training_logic`` (the two logics), ``node_io`` (volume nodes
<-> files and arrays), ``scene_helpers`` (display, subject hierarchy, roll-back), ``process_runner``
(worker process + JSON progress lines), ``signals``, ``state``, ``model_catalog``, ``locations``,
``dataset_builder`` (scene -> nnU-Net folder) and ``events_plot`` (training curves).
"""

from .dataset_builder import buildDatasetFromScene, sliceLabelRows, writeSliceLabels
from .events_plot import EventsFollower, TrainingPlot
from .model_catalog import ModelEntry, listModels, registerModel
from .process_runner import ProcessResult, ProcessRunner
from .segmentation_logic import RunOutcome, SegmentationLogic, SegmentationOutputs, SegmentationParameters
from .signals import Signal
from .state import State
from .training_logic import TrainingLogic, TrainingOutcome, TrainingParameters, canResume, loadRunParameters

__all__ = [
    "EventsFollower",
    "ModelEntry",
    "ProcessResult",
    "ProcessRunner",
    "RunOutcome",
    "SegmentationLogic",
    "SegmentationOutputs",
    "SegmentationParameters",
    "Signal",
    "State",
    "TrainingLogic",
    "TrainingOutcome",
    "TrainingParameters",
    "TrainingPlot",
    "buildDatasetFromScene",
    "canResume",
    "listModels",
    "loadRunParameters",
    "registerModel",
    "sliceLabelRows",
    "writeSliceLabels",
]
