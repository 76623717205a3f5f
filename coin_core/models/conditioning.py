"""The method's conditioning and difference map, in one place (docs/method.md §2, §6).

Shared by training (``coin_core.train.phases``), the model file (``coin_core.modelfile``),
inference (``coin_core.infer.segment``) and evaluation (``coin_core.evaluation.evaluate``), so that
the model file never imports the trainer and every caller uses the same definitions.

Conditions from the frozen classifier f: p = sigmoid(f(x)), b = bin(p) (the input's bin), the bin
c the generator is asked for and the KL target t:

* COIN: c = 0 ("normal") for every sample, t = 1e-6 where p >= 0.5 (inpaint the lesion), else p;
* Singla*: c = bin(1 - p) (the opposite bin), t = 1 - p.

The difference map is |x - x_cf| / 2 with both images in [-1, 1]: the change in [0, 1] units, the
scale of the paper's threshold 0.25.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INPAINT_TARGET = 1e-6
"""COIN's KL target where the classifier calls a slice abnormal ("make it normal")."""


@dataclass
class Conditions:
    """Per-sample conditioning, torch tensors [B]: p (probability), b (its bin), c (desired bin),
    t (KL target)."""

    p: Any
    b: Any
    c: Any
    t: Any


def to_bin(p: Any, num_bins: int) -> Any:
    """Bin index of probabilities ``p`` (a torch tensor): min(floor(p * K), K - 1), as long."""
    import torch

    return torch.clamp((p * num_bins).floor().long(), 0, num_bins - 1)


def target_bins(method: str, p: Any, num_bins: int) -> Any:
    """The bin c the generator is conditioned on: 0 for COIN (``p`` only gives the batch size and
    device), bin(1 - p) for Singla*."""
    import torch

    if method == "coin":
        return torch.zeros(p.shape[0], dtype=torch.long, device=p.device)
    return to_bin(1.0 - p, num_bins)


def conditions_from_p(method: str, p: Any, num_bins: int) -> Conditions:
    """The conditions of ``method`` ("coin" or "singla") for probabilities ``p`` [B]."""
    import torch

    t = torch.where(p >= 0.5, torch.full_like(p, INPAINT_TARGET), p) if method == "coin" else 1.0 - p
    return Conditions(p=p, b=to_bin(p, num_bins), c=target_bins(method, p, num_bins), t=t)


def conditions(method: str, classifier: Any, x: Any, num_bins: int) -> Conditions:
    """Run the frozen classifier on ``x`` (no grad) and derive the conditions of ``method``."""
    import torch

    with torch.no_grad():
        p = torch.sigmoid(classifier(x).float().flatten())
    return conditions_from_p(method, p, num_bins)


def difference_from_change(change: Any) -> Any:
    """The difference map of a change ``x_cf - x`` (model units, torch, any shape): |change| / 2."""
    return (change.abs() * 0.5).clamp_(0.0, 1.0)


def difference_map(x: Any, x_cf: Any) -> Any:
    """|x - x_cf| / 2 of images in [-1, 1] (torch, any shape): the difference map in [0, 1] units."""
    return difference_from_change(x_cf.float() - x.float())
