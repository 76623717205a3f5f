"""LayerCAM (Jiang et al. 2021) at the classifier's ``layer4`` (docs/method.md §8.5).

cam = ReLU(Σ_k ReLU(∂logit/∂A_k) ⊙ A_k); bilinear up-sampling, then per-image min-max.
"""

from __future__ import annotations

from typing import Any

from coin_core.evaluation.baselines._common import layer4_activation_and_grad, minmax, upsample


def layercam(classifier: Any, x: Any) -> Any:
    """LayerCAM maps ``[B, 1, S, S]`` in [0, 1] for images ``x`` ``[B, 1, S, S]``."""
    import torch

    act, grads = layer4_activation_and_grad(classifier, x)
    cam = torch.relu((torch.relu(grads) * act).sum(1, keepdim=True))
    return minmax(upsample(cam, tuple(x.shape[-2:])))
