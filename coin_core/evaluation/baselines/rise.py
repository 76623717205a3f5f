"""RISE (Petsiuk et al. 2018) with the paper's settings (docs/method.md §8.5).

N random binary ``grid x grid`` grids with keep-probability p1 are bilinearly up-sampled to
``(grid + 1) * cell`` pixels (cell = ceil(S / grid)), shifted by a random 0..cell-1 offset and
cropped to S x S. Saliency = Σ_i σ(f(x ⊙ M_i)) M_i / (N p1), then per-image min-max.

The masks come in batches from a seeded ``torch.Generator`` (the same seed gives the same masks),
so no 3 GB mask array is ever held; only one batch of masks lives in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from coin_core.errors import CoinError
from coin_core.evaluation.baselines._common import check_input, logits, minmax, upsample
from coin_core.progress import StopCallback, check_stop

PAPER_MASKS = 6000


def rise_masks(
    n: int, size: int, *, grid: int = 8, p1: float = 0.1, seed: int = 0, batch_size: int = 256
) -> Iterator[Any]:
    """Yield the RISE masks as float32 tensors ``[b, 1, size, size]`` (CPU), ``n`` in all."""
    import torch

    if n < 1 or grid < 1 or not 0.0 < p1 <= 1.0:
        raise CoinError(
            f"RISE needs n >= 1 masks, grid >= 1 and 0 < p1 <= 1; got n={n}, grid={grid}, p1={p1}."
        )
    cell = math.ceil(size / grid)
    up = (grid + 1) * cell
    gen = torch.Generator().manual_seed(int(seed))
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        grids = (torch.rand(b, 1, grid, grid, generator=gen) < p1).float()
        shifts = torch.randint(0, cell, (b, 2), generator=gen)
        big = upsample(grids, (up, up))
        yield torch.stack(
            [big[i, :, sy : sy + size, sx : sx + size] for i, (sy, sx) in enumerate(shifts.tolist())]
        )


def rise(
    classifier: Any,
    x: Any,
    n_masks: int = PAPER_MASKS,
    *,
    grid: int = 8,
    p1: float = 0.1,
    seed: int = 0,
    batch_size: int = 128,
    should_stop: StopCallback | None = None,
) -> Any:
    """RISE saliency maps ``[B, 1, S, S]`` in [0, 1] for square images ``x`` ``[B, 1, S, S]``.

    Args:
        classifier: the frozen classifier (logit of "abnormal").
        x: images in [-1, 1]; masked-out pixels become 0 (mid-grey).
        n_masks: number of random masks (6000 in the paper; fewer for quick runs).
        grid, p1: grid size and keep-probability (8 and 0.1 in the paper).
        seed: mask generator seed (every image sees the same masks).
        batch_size: masks per forward pass.
        should_stop: cancel flag, checked after every mask batch.
    """
    import torch

    check_input(x)
    if x.shape[-1] != x.shape[-2]:
        raise CoinError(f"RISE expects square images; got {tuple(x.shape)}.")
    sal = torch.zeros(x.shape, dtype=torch.float32, device=x.device)
    with torch.no_grad():
        for masks in rise_masks(n_masks, x.shape[-1], grid=grid, p1=p1, seed=seed, batch_size=batch_size):
            masks = masks.to(x.device)
            m = masks.shape[0]
            # images x masks in one batch of at most ~batch_size, image-major
            per = max(1, batch_size // m)
            for b0 in range(0, x.shape[0], per):
                xb = x[b0 : b0 + per]
                masked = (xb[:, None] * masks[None].to(x.dtype)).flatten(0, 1)
                score = torch.sigmoid(logits(classifier, masked).float()).view(xb.shape[0], m, 1, 1, 1)
                sal[b0 : b0 + per] += (score * masks[None]).sum(1)
            check_stop(should_stop)
    return minmax(sal / (n_masks * p1))
