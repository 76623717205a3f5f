"""The module's settings as a parameter node, so they are saved with the scene (desktop Slicer only).

Each field is bound to the widget whose ``SlicerParameterName`` dynamic property names it in
Resources/UI/COINSegmentation.ui (``connectGui``). The model is kept as a folder path; the widget
fills the model list itself; choosing a model sets the threshold and the mask margin to its card's.
The host organ (a segmentation and the IDs of its organ segments) is
kept in sync with the segment selector by the widget, which no connector binds. Defaults and choices
come from coin_core (one source).
"""

from typing import Annotated

from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from coin_core.infer.postprocess import (
    DEFAULT_MARGIN_MM,
    DEFAULT_POSTPROCESS,
    DEFAULT_THRESHOLD,
    MAX_MARGIN_MM,
    POSTPROCESS_MODES,
)


@parameterNodeWrapper
class COINSegmentationParameterNode:
    """Inputs, options and output of one COIN run."""

    inputVolume: vtkMRMLScalarVolumeNode
    modelFolder: str = ""
    hostSegmentation: vtkMRMLSegmentationNode
    hostSegmentIds: list[str]
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    screening: bool = True
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = DEFAULT_THRESHOLD
    postprocess: Annotated[str, Choice(list(POSTPROCESS_MODES))] = DEFAULT_POSTPROCESS
    marginMm: Annotated[float, WithinRange(0.0, MAX_MARGIN_MM)] = DEFAULT_MARGIN_MM
    outputSegmentation: vtkMRMLSegmentationNode
