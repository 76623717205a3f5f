"""Per-phase loss composition for COIN and Singla*, and the no-grad D-only step."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from train_helpers import TINY_SIZE

from coin_core.config import load_config
from coin_core.models import build_networks
from coin_core.train.phases import (
    INPAINT_TARGET,
    CounterfactualNet,
    conditions_from_p,
    discriminator_phase,
    generator_phase,
)


def test_coin_conditions_inpaint_positives_and_keep_negatives():
    c = conditions_from_p("coin", torch.tensor([0.9, 0.5, 0.2]), num_bins=2)
    assert c.c.tolist() == [0, 0, 0] and c.b.tolist() == [1, 1, 0]
    assert c.t.tolist() == pytest.approx([INPAINT_TARGET, INPAINT_TARGET, 0.2])


def test_singla_conditions_flip_the_bin_and_target():
    c = conditions_from_p("singla", torch.tensor([0.9, 0.2]), num_bins=2)
    assert c.c.tolist() == [0, 1] and c.b.tolist() == [1, 0]
    assert c.t.tolist() == pytest.approx([0.1, 0.8])


@pytest.fixture
def parts(tiny_config):
    nets = build_networks(tiny_config.model, seed=0)
    nets.classifier.eval().requires_grad_(False)
    x = torch.rand(4, 1, TINY_SIZE, TINY_SIZE) * 2 - 1
    return nets, CounterfactualNet(nets.encoder, nets.generator), x


def test_coin_generator_terms_follow_the_weights(tiny_config, parts):
    nets, cf, x = parts
    cond = conditions_from_p("coin", torch.tensor([0.9, 0.1, 0.7, 0.3]), 2)
    _, total, terms = generator_phase(
        "coin", tiny_config.loss, cf, nets.classifier, nets.discriminator, x, cond
    )
    assert set(terms) == {"Loss/G/adv", "Loss/G/kl", "Loss/G/rec", "Loss/G/tv", "Loss/G/total"}
    w = tiny_config.loss
    expected = w.lambda_adv * terms["Loss/G/adv"] + w.lambda_kl * terms["Loss/G/kl"]
    expected = expected + w.lambda_rec * terms["Loss/G/rec"] + w.lambda_tv * terms["Loss/G/tv"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    no_tv = dataclasses.replace(w, lambda_tv=0.0, lambda_minc=2.0)
    _, _, terms = generator_phase("coin", no_tv, cf, nets.classifier, nets.discriminator, x, cond)
    assert "Loss/G/tv" not in terms and "Loss/G/minc" in terms


def test_singla_reconstruction_uses_self_and_cycle_passes(parts):
    nets, cf, x = parts
    cfg = load_config("singla")
    cond = conditions_from_p("singla", torch.tensor([0.9, 0.1, 0.7, 0.3]), 2)
    calls = []
    cf.register_forward_hook(lambda m, inp, out: calls.append(inp[1].tolist()))
    generator_phase("singla", cfg.loss, cf, nets.classifier, nets.discriminator, x, cond)
    assert calls == [cond.c.tolist(), cond.b.tolist(), cond.b.tolist()]  # x_c, self, cycle


def test_discriminator_phase_reports_real_and_fake_parts(parts):
    nets, cf, x = parts
    cond = conditions_from_p("coin", torch.tensor([0.9, 0.1, 0.7, 0.3]), 2)
    with torch.no_grad():
        x_cf = cf(x, cond.c)
    total, terms = discriminator_phase("bce", nets.discriminator, x, x_cf, cond)
    assert total.item() == pytest.approx(0.5 * (terms["Loss/D/real"] + terms["Loss/D/fake"]).item(), rel=1e-6)
    assert not x_cf.requires_grad  # the D-only step builds no graph through G
    total.backward()
    assert all(p.grad is None for p in cf.parameters())
