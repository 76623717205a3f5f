"""COINSegmentation's desktop-Slicer part: the widget, its parameter node, the panel base and the
dependency prompt (both shared with COINTraining).

The scene-level logic (runs on slicer-core, no Qt) is the ``coin_slicer`` package, which the
extension installs next to this folder: ``from coin_slicer import SegmentationLogic``.
"""
