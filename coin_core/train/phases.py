"""Loss composition per training phase for COIN and Singla* (docs/method.md §6.1, §9, §11).

The two phases are pure: they run the networks and return named terms, never calling
``backward`` or an optimiser (the loop does). Each term is computed only when its weight is
non-zero, and reported under a hierarchical name (``Loss/G/adv``, ``Loss/D/real``, ...).

The conditions (p, b, c, t) of COIN and Singla* come from :mod:`coin_core.models.conditioning`,
the one definition that inference and evaluation use too (re-exported here).
"""

from __future__ import annotations

import torch
from torch import nn

from coin_core import losses
from coin_core.config import LossConfig
from coin_core.models.conditioning import (
    INPAINT_TARGET,
    Conditions,
    conditions,
    conditions_from_p,
    to_bin,
)

__all__ = [
    "INPAINT_TARGET",
    "Conditions",
    "CounterfactualNet",
    "conditions",
    "conditions_from_p",
    "discriminator_phase",
    "generator_phase",
    "to_bin",
]


class CounterfactualNet(nn.Module):
    """E and G as one module (one DDP wrapper, one optimiser): x_cf = G(E(x), y; x)."""

    def __init__(self, encoder: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.generator = generator

    def forward(self, x: torch.Tensor, y: torch.Tensor, return_mask: bool = False):
        """Counterfactuals of ``x`` [B,1,S,S] under condition bins ``y`` [B] (long); with
        ``return_mask`` the pair (x_cf, m), m the inpainting mask (None unless fusion is "mask")."""
        x_cf, m = self.generator.forward_with_mask(self.encoder(x), y, x)
        return (x_cf, m) if return_mask else x_cf


def generator_phase(
    method: str,
    w: LossConfig,
    cf: nn.Module,
    classifier: nn.Module,
    disc: nn.Module,
    x: torch.Tensor,
    cond: Conditions,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """L_G for one batch.

    Args:
        method: "coin" or "singla".
        w: the loss weights.
        cf: the counterfactual net (x, y) -> x_cf (possibly DDP-wrapped).
        classifier: frozen f (gradients flow through it to x_cf).
        disc: D, called on the counterfactuals (its parameters should not require grad here).
        x: the batch [B,1,S,S] in [-1, 1].
        cond: from :func:`conditions`.

    Returns:
        (x_cf, weighted total, raw terms by name).
    """
    x_cf, mask = cf(x, cond.c, return_mask=True)
    terms: dict[str, torch.Tensor] = {}
    weights: dict[str, float] = {}
    if w.lambda_mask and mask is not None:
        terms["Loss/G/mask"] = mask.float().mean()
        weights["Loss/G/mask"] = w.lambda_mask
    if w.lambda_adv:
        terms["Loss/G/adv"] = losses.adversarial_generator(disc(x_cf, cond.c).float(), w.adv)
        weights["Loss/G/adv"] = w.lambda_adv
    if w.lambda_kl:
        terms["Loss/G/kl"] = losses.kl_consistency(cond.t, classifier(x_cf).float().flatten())
        weights["Loss/G/kl"] = w.lambda_kl
    if w.lambda_rec:
        terms["Loss/G/rec"] = _reconstruction(method, w, cf, x, x_cf, cond)
        weights["Loss/G/rec"] = w.lambda_rec
    if w.lambda_tv:
        terms["Loss/G/tv"] = losses.tv_loss(x.float(), x_cf.float())
        weights["Loss/G/tv"] = w.lambda_tv
    if w.lambda_minc:
        terms["Loss/G/minc"] = losses.l1(x.float(), x_cf.float())
        weights["Loss/G/minc"] = w.lambda_minc
    total = sum((weights[k] * v for k, v in terms.items()), torch.zeros((), device=x.device))
    terms["Loss/G/total"] = total
    return x_cf, total, terms


def _reconstruction(
    method: str, w: LossConfig, cf: nn.Module, x: torch.Tensor, x_cf: torch.Tensor, cond: Conditions
) -> torch.Tensor:
    if method == "coin":
        x_cycle = cf(x_cf, cond.c).float() if w.cyclic else None
        return losses.coin_reconstruction(x.float(), x_cf.float(), x_cycle)
    x_self = cf(x, cond.b).float()
    x_cycle = cf(x_cf, cond.b).float()
    return losses.self_reconstruction(x.float(), x_self, x_cycle)


def discriminator_phase(
    kind: str, disc: nn.Module, x: torch.Tensor, x_cf: torch.Tensor, cond: Conditions
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_D = adv(D(x, b), real) + adv(D(sg(x_cf), c), fake) in one D pass over [x; x_cf].

    Returns:
        (total, terms): ``Loss/D/total`` plus the real and fake parts ``Loss/D/real``,
        ``Loss/D/fake`` (for bce and mse each part is halved in the total, as in the paper).
    """
    n = x.shape[0]
    logits = disc(torch.cat([x, x_cf.detach()]), torch.cat([cond.b, cond.c])).float()
    real, fake = logits[:n], logits[n:]
    total = losses.adversarial_discriminator(real, fake, kind)
    with torch.no_grad():
        terms = {"Loss/D/real": _part(kind, real, True), "Loss/D/fake": _part(kind, fake, False)}
    terms["Loss/D/total"] = total
    return total, terms


def _part(kind: str, logits: torch.Tensor, real: bool) -> torch.Tensor:
    if kind == "bce":
        return torch.nn.functional.softplus(-logits if real else logits).mean()
    if kind == "mse":
        return ((logits - 1.0) ** 2).mean() if real else (logits**2).mean()
    return torch.relu(1.0 - logits).mean() if real else torch.relu(1.0 + logits).mean()
