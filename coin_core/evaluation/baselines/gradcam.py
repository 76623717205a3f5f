"""Grad-CAM (Selvaraju et al. 2017) at the classifier's ``layer4``.

cam = ReLU(Σ_k α_k A_k) with α_k the spatial mean of ∂logit/∂A_k; bilinear up-sampling to the
input size, then per-image min-max.
"""

from __future__ import annotations

from typing import Any

from coin_core.evaluation.baselines._common import layer4_activation_and_grad, minmax, upsample


def gradcam(classifier: Any, x: Any) -> Any:
    """Grad-CAM maps ``[B, 1, S, S]`` in [0, 1] for images ``x`` ``[B, 1, S, S]``."""
    import torch

    act, grads = layer4_activation_and_grad(classifier, x)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(1, keepdim=True))
    return minmax(upsample(cam, tuple(x.shape[-2:])))
