"""Score-CAM (Wang et al. 2020) at the classifier's ``layer4`` (docs/method.md §8.5).

For every channel k of the target layer: up-sample A_k bilinearly to the input size, min-max it,
mask the image with it (masked-out pixels become 0, mid-grey in the [-1, 1] window) and weight the
un-normalised up-sampled A_k by σ(logit of the masked image). Final map: ReLU, then per-image
min-max. This costs one forward pass per channel (512 for ResNet-18) per image.
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
from coin_core.progress import StopCallback, check_stop


def scorecam(classifier: Any, x: Any, batch_size: int = 64, should_stop: StopCallback | None = None) -> Any:
    """Score-CAM maps ``[B, 1, S, S]`` in [0, 1] for images ``x`` ``[B, 1, S, S]``.

    Args:
        classifier: the frozen classifier (with ``layer4``).
        x: images in [-1, 1].
        batch_size: masked images per forward pass.
        should_stop: cancel flag, checked after every forward pass.
    """
    import torch

    check_input(x)
    size = tuple(x.shape[-2:])
    with torch.no_grad():
        with capture(target_layer(classifier)) as st:
            logits(classifier, x)
        act = st["act"].float()
        maps = []
        for b in range(x.shape[0]):
            cam = torch.zeros((1, 1, *size), device=x.device)
            for k0 in range(0, act.shape[1], batch_size):
                up = upsample(act[b : b + 1, k0 : k0 + batch_size], size).transpose(0, 1)  # [k,1,S,S]
                masked = x[b : b + 1] * minmax(up).to(x.dtype)
                weight = torch.sigmoid(logits(classifier, masked).float())
                cam += (weight.view(-1, 1, 1, 1) * up).sum(0, keepdim=True)
                check_stop(should_stop)
            maps.append(cam)
        return minmax(torch.relu(torch.cat(maps)))
