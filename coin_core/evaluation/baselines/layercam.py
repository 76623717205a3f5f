"""LayerCAM (Jiang et al. 2021) at the classifier's ``layer4`` (METHOD.md §8.5).

cam = ReLU(Σ_k ReLU(∂logit/∂A_k) ⊙ A_k); bilinear up-sampling, then per-image min-max.
"""

from __future__ import annotations

from typing import Any

from coin_core.evaluation.baselines._common import (
    capture,
    check_input,
    logits,
    minmax,
    target_layer,
    upsample,
)


def layercam(classifier: Any, x: Any) -> Any:
    """LayerCAM maps ``[B, 1, S, S]`` in [0, 1] for images ``x`` ``[B, 1, S, S]``."""
    import torch

    check_input(x)
    with torch.inference_mode(False), torch.enable_grad(), capture(target_layer(classifier), grad=True) as st:
        out = logits(classifier, x.detach().clone())
        act = st["act"]
        (grads,) = torch.autograd.grad(out.sum(), act)
    cam = torch.relu((torch.relu(grads) * act.detach()).sum(1, keepdim=True))
    return minmax(upsample(cam, tuple(x.shape[-2:])))
