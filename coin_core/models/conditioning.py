"""Condition bins of the generator and the discriminator (docs/method.md §2, §6).

Shared by training (``coin_core.train.phases``) and inference (``coin_core.modelfile``), so that
the model file never imports the trainer.
"""

from __future__ import annotations

from typing import Any


def to_bin(p: Any, num_bins: int) -> Any:
    """Bin index of probabilities ``p`` (a torch tensor): min(floor(p * K), K - 1), as long."""
    import torch

    return torch.clamp((p * num_bins).floor().long(), 0, num_bins - 1)
