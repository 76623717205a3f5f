"""COINTraining's desktop-Slicer part: the widget and its parameter node.

The training logic, the dataset builder and the live curves (run on slicer-core, no Qt) are in the
``coin_slicer`` package: ``from coin_slicer import TrainingLogic``.
"""
