"""Per-term losses of COIN and of the Singla et al. baseline (docs/method.md §6, §9, §11).

Pure functions: tensors in, a scalar tensor out. No loss weights live here; the trainer multiplies
each term by the weight from its config.

Images are in [-1, 1]. The TV term works on the difference image in [0, 1] units
(d = |x - x_cf| / 2) instead of the reference's 0–255 scale, so

    tv_loss(x, x_cf) * 255**2 == reference L_tv,

and a reference weight λ_tv maps to ``λ_tv * 255**2`` here (TSM 0.05 -> 3251.25, TUH 5e-5 ->
3.25125). See :data:`TV_PAPER_SCALE`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from coin_core.errors import CoinError

ADVERSARIAL_KINDS = ("bce", "mse", "hinge")
"""``bce``: non-saturating BCE-with-logits (what the paper's runs really used, docs/method.md §11.1);
``mse``: least squares (LSGAN, targets 1 / 0); ``hinge``: hinge D loss, -D generator loss."""

KL_EPS = 1e-5
TV_PAPER_SCALE = 255.0**2
"""Multiply a reference λ_tv by this to get the weight for :func:`tv_loss`."""


def check_adversarial_kind(kind: str) -> str:
    """Return ``kind`` when valid, else raise :class:`CoinError` listing the valid kinds."""
    if kind not in ADVERSARIAL_KINDS:
        raise CoinError(f"Unknown adversarial loss kind '{kind}'.", f"use one of {list(ADVERSARIAL_KINDS)}.")
    return kind


def adversarial_generator(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator-side adversarial loss on D's logits for counterfactuals.

    bce: mean softplus(-D) = BCEWithLogits(D, 1); mse: mean (D - 1)²; hinge: -mean D.
    """
    check_adversarial_kind(kind)
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    if kind == "mse":
        return ((fake_logits - 1.0) ** 2).mean()
    return -fake_logits.mean()


def adversarial_discriminator(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str
) -> torch.Tensor:
    """Discriminator loss on D's logits for real images and (detached) counterfactuals.

    bce: ½[BCE(D_real, 1) + BCE(D_fake, 0)]; mse: ½[mean (D_real - 1)² + mean D_fake²];
    hinge: mean ReLU(1 - D_real) + mean ReLU(1 + D_fake) (not halved, as the reference).
    """
    check_adversarial_kind(kind)
    if kind == "bce":
        return 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())
    if kind == "mse":
        return 0.5 * (((real_logits - 1.0) ** 2).mean() + (fake_logits**2).mean())
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def kl_consistency(target_p: torch.Tensor, logits_cf: torch.Tensor, eps: float = KL_EPS) -> torch.Tensor:
    """Classifier consistency: mean over the batch of KL(Bern(t) ‖ Bern(q)), q = σ(logits_cf).

    Both t and q are clamped to [eps, 1 - eps] (docs/method.md §6.1):
    t·log(t/q) + (1 - t)·log((1 - t)/(1 - q)).

    Args:
        target_p: target probabilities t, shape [B].
        logits_cf: classifier logits of the counterfactuals, shape [B].
    """
    t = target_p.to(logits_cf.dtype).clamp(eps, 1.0 - eps)
    q = torch.sigmoid(logits_cf).clamp(eps, 1.0 - eps)
    kl = t * torch.log(t / q) + (1.0 - t) * torch.log((1.0 - t) / (1.0 - q))
    return kl.mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over every element."""
    return (a - b).abs().mean()


def coin_reconstruction(
    x: torch.Tensor, x_cf: torch.Tensor, x_cycle: torch.Tensor | None = None
) -> torch.Tensor:
    """COIN L_rec = ‖x - x_cf‖₁ + ‖x - G(E(x_cf), 0; x_cf)‖₁ (the second term only if ``x_cycle``)."""
    loss = l1(x, x_cf)
    if x_cycle is not None:
        loss = loss + l1(x, x_cycle)
    return loss


def self_reconstruction(x: torch.Tensor, x_self: torch.Tensor, x_cycle: torch.Tensor) -> torch.Tensor:
    """Singla et al. L_rec with plain L1 (no CARL masks): ‖x - G(E(x), b)‖₁ + ‖x - G(E(x_c), b)‖₁.

    Args:
        x: input images.
        x_self: G(E(x), b), the input regenerated under its own predicted bin b.
        x_cycle: G(E(x_c), b), the counterfactual x_c mapped back to bin b.
    """
    return l1(x, x_self) + l1(x, x_cycle)


def tv_loss(x: torch.Tensor, x_cf: torch.Tensor) -> torch.Tensor:
    """Squared anisotropic total variation of the difference image in [0, 1] units.

    d = |x - x_cf| / 2; loss = mean_b[mean (d_{i+1,j} - d_{i,j})² + mean (d_{i,j+1} - d_{i,j})²].
    Equals the reference's 0–255 L_tv divided by 255² (:data:`TV_PAPER_SCALE`).
    """
    d = (x - x_cf).abs() * 0.5
    dh = (d[..., 1:, :] - d[..., :-1, :]) ** 2
    dw = (d[..., :, 1:] - d[..., :, :-1]) ** 2
    return dh.flatten(1).mean(dim=1).mean() + dw.flatten(1).mean(dim=1).mean()
