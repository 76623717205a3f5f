"""Each loss term on tiny tensors whose values are worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from coin_core import losses
from coin_core.errors import CoinError

LN2, LN3 = math.log(2.0), math.log(3.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def close(a: torch.Tensor, b: float) -> bool:
    return a.dim() == 0 and abs(float(a) - b) < 1e-6


def test_bce_generator_loss_is_mean_softplus_of_minus_d():
    # softplus(-0) = ln 2, softplus(-ln 3) = ln(1 + 1/3) = ln(4/3); mean = ln(8/3) / 2
    assert close(losses.adversarial_generator(t(0.0, LN3), "bce"), math.log(8 / 3) / 2)


def test_bce_discriminator_loss_is_half_the_sum_of_real_and_fake_bce():
    # real 0 -> ln 2; fake ln 3 -> softplus(ln 3) = ln 4; ½(ln 2 + ln 4) = 1.5 ln 2
    assert close(losses.adversarial_discriminator(t(0.0), t(LN3), "bce"), 1.5 * LN2)


def test_mse_losses_use_targets_one_and_zero():
    # G: ((0-1)² + (3-1)²) / 2 = 2.5 ; D: ½[2.5 + (1² + 1²)/2] = 1.75
    assert close(losses.adversarial_generator(t(0.0, 3.0), "mse"), 2.5)
    assert close(losses.adversarial_discriminator(t(0.0, 3.0), t(1.0, -1.0), "mse"), 1.75)


def test_hinge_losses_are_not_halved():
    # G: -(0 + 3)/2 = -1.5 ; D real: (relu(1) + relu(-2))/2 = 0.5, fake: (relu(2) + relu(-2))/2 = 1
    assert close(losses.adversarial_generator(t(0.0, 3.0), "hinge"), -1.5)
    assert close(losses.adversarial_discriminator(t(0.0, 3.0), t(1.0, -3.0), "hinge"), 1.5)


@pytest.mark.parametrize("kind", ["", "MSE", "lsgan", "wgan"])
def test_unknown_adversarial_kind_is_an_error_listing_the_kinds(kind):
    with pytest.raises(CoinError, match="bce"):
        losses.adversarial_generator(t(0.0), kind)
    with pytest.raises(CoinError, match="hinge"):
        losses.adversarial_discriminator(t(0.0), t(0.0), kind)


def test_kl_consistency_on_hand_computed_cases():
    # t = 0.5, q = σ(0) = 0.5 -> 0
    # t = 0.25, q = σ(ln 3) = 0.75 -> 0.25 ln(1/3) + 0.75 ln 3 = 0.5 ln 3 ; batch mean = 0.25 ln 3
    assert close(losses.kl_consistency(t(0.5, 0.25), t(0.0, LN3)), 0.25 * LN3)


def test_kl_consistency_clamps_both_probabilities_to_1e_5():
    # t = 1e-6 -> 1e-5; logit -100 -> q = σ(-100) ≈ 4e-44 -> 1e-5; KL(1e-5 ‖ 1e-5) = 0
    assert close(losses.kl_consistency(t(1e-6), t(-100.0)), 0.0)
    # t = 0 -> 1e-5, q = 0.5: 1e-5 ln(2e-5) + (1 - 1e-5) ln(2 (1 - 1e-5)); finite, not NaN
    e = 1e-5
    expected = e * math.log(2 * e) + (1 - e) * math.log(2 * (1 - e))
    assert abs(float(losses.kl_consistency(t(0.0), t(0.0))) - expected) < 1e-5
    # q -> 1 while t -> 0: bounded by the clamp at -ln(1e-5) ≈ 11.5
    big = float(losses.kl_consistency(t(0.0), t(100.0)))
    assert 11.0 < big < 11.6


def test_kl_consistency_gradient_pushes_the_logit_down_for_the_inpaint_target():
    logit = t(2.0).requires_grad_(True)
    losses.kl_consistency(t(1e-6), logit).backward()
    assert logit.grad is not None and float(logit.grad) > 0


def test_l1_is_the_mean_absolute_difference():
    # |1 - 0| = 1, |-1 - 0.5| = 1.5 ; mean 1.25
    assert close(losses.l1(t(1.0, -1.0), t(0.0, 0.5)), 1.25)


def test_reconstruction_helpers_add_the_cyclic_terms():
    x, a, b = t(0.0, 0.0), t(1.0, 1.0), t(0.5, -0.5)
    assert close(losses.coin_reconstruction(x, a), 1.0)
    assert close(losses.coin_reconstruction(x, a, b), 1.5)
    assert close(losses.self_reconstruction(x, b, a), 1.5)


def test_tv_loss_on_a_single_changed_pixel():
    # x_cf differs from x by 2 (= 1 in [0,1] units) at the top-left pixel of a 2x2 image:
    # d = [[1, 0], [0, 0]]; vertical diffs² = [1, 0] -> 0.5; horizontal diffs² = [1, 0] -> 0.5
    x = torch.ones(1, 1, 2, 2)
    x_cf = x.clone()
    x_cf[0, 0, 0, 0] = -1.0
    assert close(losses.tv_loss(x, x_cf), 1.0)
    # a second image without change halves the batch mean
    assert close(losses.tv_loss(torch.cat([x, x]), torch.cat([x_cf, x])), 0.5)


def test_tv_loss_is_zero_for_a_constant_difference():
    x = torch.zeros(2, 1, 4, 4)
    assert close(losses.tv_loss(x, x + 0.3), 0.0)


def test_tv_loss_times_255_squared_equals_the_reference_0_255_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    x_cf = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    d = 255 * ((x + 1) / 2 - (x_cf + 1) / 2).abs()
    per_image = [
        ((d[i, :, 1:, :] - d[i, :, :-1, :]) ** 2).mean() + ((d[i, :, :, 1:] - d[i, :, :, :-1]) ** 2).mean()
        for i in range(3)
    ]
    reference = torch.stack(per_image).mean()
    ours = losses.tv_loss(x, x_cf) * losses.TV_PAPER_SCALE
    assert torch.allclose(ours, reference, rtol=1e-5)
