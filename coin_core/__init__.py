"""COIN: counterfactual inpainting for weakly supervised lesion segmentation.

``coin_core`` is the engine shared by the ``coin`` command, the 3D Slicer modules and the web
review page. It imports neither Slicer nor Qt; heavy optional dependencies (torch, SimpleITK)
are imported by the submodules that need them.
"""

from coin_core.errors import CoinCancelled, CoinError

__version__ = "0.1.0"

__all__ = ["CoinCancelled", "CoinError", "__version__"]
