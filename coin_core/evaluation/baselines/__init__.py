"""Attribution baselines scored against COIN: RISE, Score-CAM, LayerCAM, Grad-CAM.

Each is ``fn(classifier, x, ...) -> [B, 1, S, S]`` maps in [0, 1], min-max normalised per image.
"""

from coin_core.evaluation.baselines.gradcam import gradcam
from coin_core.evaluation.baselines.layercam import layercam
from coin_core.evaluation.baselines.rise import rise, rise_masks
from coin_core.evaluation.baselines.scorecam import scorecam

ATTRIBUTION_METHODS = ("rise", "scorecam", "layercam", "gradcam")

__all__ = ["ATTRIBUTION_METHODS", "gradcam", "layercam", "rise", "rise_masks", "scorecam"]
