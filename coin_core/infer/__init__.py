"""Volume inference (``coin segment``): counterfactual, difference map, lesion mask, output files.

See docs/internals.md ("Inference"). Import the functions from here::

    from coin_core.infer import segment_volume, threshold_difference, write_outputs
"""

from coin_core.infer.outputs import input_stem, output_paths, write_outputs
from coin_core.infer.postprocess import POSTPROCESS_MODES, threshold_difference
from coin_core.infer.segment import SegmentationResult, segment_volume
from coin_core.infer.segnrrd import write_seg_nrrd

__all__ = [
    "POSTPROCESS_MODES",
    "SegmentationResult",
    "input_stem",
    "output_paths",
    "segment_volume",
    "threshold_difference",
    "write_outputs",
    "write_seg_nrrd",
]
