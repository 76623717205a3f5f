"""COINTraining's implementation: dataset building, the training logic and live curves (run on slicer-core).

Only ``Widget`` and ``Parameters`` need desktop Slicer (Qt); import them from their modules.
"""

from .DatasetBuilder import buildDatasetFromScene, sliceLabelRows, writeSliceLabels
from .EventsPlot import EventsFollower, TrainingPlot
from .TrainingLogic import TrainingLogic, TrainingOutcome, TrainingParameters, canResume, loadRunParameters

__all__ = [
    "EventsFollower",
    "TrainingLogic",
    "TrainingOutcome",
    "TrainingParameters",
    "TrainingPlot",
    "buildDatasetFromScene",
    "canResume",
    "loadRunParameters",
    "sliceLabelRows",
    "writeSliceLabels",
]
