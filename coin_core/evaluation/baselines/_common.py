"""Shared helpers of the attribution baselines: logits, the target layer, min-max, input checks.

Every baseline takes ``classifier`` (an ``nn.Module`` mapping ``[B, 1, S, S]`` images in [-1, 1] to
one logit per image, shape ``[B]`` or ``[B, 1]``) and ``x`` ``[B, 1, S, S]``, and returns a float32
map ``[B, 1, S, S]`` in [0, 1], min-max normalised per image (docs/method.md §8.5). The CAM methods read
the activations of ``classifier.layer4`` (the ResNet's last stage) through a forward hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from coin_core.errors import CoinError


def check_input(x: Any) -> None:
    """Raise CoinError unless ``x`` is a float tensor ``[B, 1, H, W]``."""
    import torch

    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 1 or not x.is_floating_point():
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise CoinError(f"Attribution input must be a float tensor [B, 1, H, W]; got {shape}.")


def logits(classifier: Any, x: Any) -> Any:
    """Run ``classifier`` and return its logits as ``[B]``."""
    out = classifier(x)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1 or out.shape[0] != x.shape[0]:
        raise CoinError(
            f"The classifier returned shape {tuple(out.shape)} for a batch of {x.shape[0]}; "
            "expected one logit per image ([B] or [B, 1])."
        )
    return out


def target_layer(classifier: Any) -> Any:
    """The CAM target layer: ``classifier.layer4`` (ResNet)."""
    layer = getattr(classifier, "layer4", None)
    if layer is None:
        raise CoinError(
            f"The classifier ({type(classifier).__name__}) has no 'layer4' attribute, which the CAM "
            "baselines use as their target layer.",
            "use a ResNet classifier built by coin_core.models.",
        )
    return layer


@contextlib.contextmanager
def capture(layer: Any, grad: bool = False) -> Iterator[dict]:
    """Record ``layer``'s output in ``store["act"]`` during the block.

    With ``grad=True`` the output is replaced by a detached leaf that requires grad, so gradients
    with respect to it exist even when the classifier's parameters are frozen.
    """
    store: dict = {}

    def hook(_module, _inputs, output):  # noqa: ANN001, ANN202
        if grad:
            output = output.detach().requires_grad_(True)
        store["act"] = output
        return output if grad else None

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def layer4_activation_and_grad(classifier: Any, x: Any) -> tuple[Any, Any]:
    """Activations of ``classifier.layer4`` and the gradient of the summed logits w.r.t. them.

    Used by Grad-CAM and LayerCAM. Returns ``(act, grads)``, both ``[B, C, h, w]``, ``act`` detached.
    """
    import torch

    check_input(x)
    with torch.inference_mode(False), torch.enable_grad(), capture(target_layer(classifier), grad=True) as st:
        out = logits(classifier, x.detach().clone())
        act = st["act"]
        (grads,) = torch.autograd.grad(out.sum(), act)
    return act.detach(), grads


def minmax(maps: Any) -> Any:
    """Min-max normalise ``[B, 1, H, W]`` maps per image to [0, 1] (constant maps become 0)."""
    flat = maps.flatten(1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    span = hi - lo
    out = (flat - lo) / span.clamp_min(1e-12)
    out = out.masked_fill(span <= 1e-12, 0.0)
    return out.view_as(maps).float()


def upsample(maps: Any, size: tuple[int, int]) -> Any:
    """Bilinear up-sampling of ``[B, C, h, w]`` to ``size``."""
    import torch.nn.functional as F

    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
