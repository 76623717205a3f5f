"""COINTraining's settings as a parameter node, saved with the scene (desktop Slicer only).

Fields are bound to the widgets whose ``SlicerParameterName`` names them in Resources/UI/COINTraining.ui.
"""

from pathlib import Path
from typing import Annotated

from slicer import vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper

from coin_core.config import DEFAULT_PRESET, preset_names


@parameterNodeWrapper
class COINTrainingParameterNode:
    """Data, preset and output folder of a training run."""

    dataFolder: Path
    runFolder: Path
    preset: Annotated[str, Choice(preset_names())] = DEFAULT_PRESET
    host: str = "kidney"
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    sliceLabelTable: vtkMRMLTableNode
