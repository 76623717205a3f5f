"""The "mask" fusion (x_cf = x + m·(c - x)) and the generator head that sees the input (input_skip)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from coin_core.errors import CoinError
from coin_core.models import build_networks, network_preset
from coin_core.models.generator import MASK_LOGIT_INIT, fuse, fuse_with_mask


def _nets(fusion: str = "mask", input_skip: bool = False):
    cfg = network_preset("small")
    gen = dataclasses.replace(cfg.generator, fusion=fusion, input_skip=input_skip)
    nets = build_networks(dataclasses.replace(cfg, generator=gen), seed=0, parts=("encoder", "generator"))
    nets.encoder.eval()
    nets.generator.eval()
    return nets


def test_mask_fusion_blends_towards_the_inpainted_value():
    x = torch.tensor([[[[0.5, -0.2]]]])
    r = torch.tensor([[[[0.3, -1.0]], [[2.0, -30.0]]]])  # channel 0: value logit, channel 1: mask logit
    x_cf, m = fuse_with_mask(x, r, "mask")
    c, mm = torch.tanh(r[:, :1]), torch.sigmoid(r[:, 1:2])
    assert torch.allclose(m, mm)
    assert torch.allclose(x_cf, (1 - mm) * x + mm * c)
    assert abs(float(x_cf[0, 0, 0, 1]) + 0.2) < 1e-5  # a closed mask is the identity (σ(-30) ~ 1e-13)
    assert torch.equal(fuse(x, r, "mask"), x_cf)


def test_other_fusions_have_no_mask():
    x = torch.zeros(1, 1, 2, 2)
    for name in ("clamp_add", "tanh_add", "add_tanh"):
        assert fuse_with_mask(x, x, name)[1] is None


def test_mask_generator_has_two_head_channels_and_starts_nearly_closed():
    nets = _nets()
    head = nets.generator.head_conv
    assert head.out_channels == 2
    assert torch.all(head.bias[1:] == MASK_LOGIT_INIT) and torch.all(head.bias[:1] != MASK_LOGIT_INIT)
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        x_cf, m = nets.generator.forward_with_mask(nets.encoder(x), 0, x)
    assert x_cf.shape == x.shape and m.shape == x.shape
    assert 0 < float(m.mean()) < 0.2  # near the identity at the start, not exactly closed
    assert float(x_cf.min()) >= -1 and float(x_cf.max()) <= 1


def test_input_skip_makes_the_head_see_the_input():
    nets = _nets(fusion="clamp_add", input_skip=True)
    assert nets.generator.head_conv.in_channels == nets.generator.head_bn.num_features + 1
    x = torch.rand(1, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        feats = nets.encoder(x)
        r1 = nets.generator.residual(feats, 0, x)
        r2 = nets.generator.residual(feats, 0, -x)  # same features, other image: the head differs
    assert not torch.equal(r1, r2)
    with pytest.raises(CoinError, match="input_skip"):
        nets.generator.residual(feats, 0, None)


def test_without_input_skip_the_head_ignores_x():
    nets = _nets(fusion="clamp_add", input_skip=False)
    x = torch.rand(1, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        feats = nets.encoder(x)
        assert torch.equal(nets.generator.residual(feats, 0, x), nets.generator.residual(feats, 0, -x))


def test_a_blurred_mask_cannot_carry_a_pixel_texture():
    x = torch.zeros(1, 1, 32, 32)
    checker = (torch.arange(32).view(-1, 1) + torch.arange(32).view(1, -1)) % 2 * 8.0 - 4.0
    r = torch.stack([checker, checker])[None]  # value and mask logits alternate pixel by pixel
    sharp, m_sharp = fuse_with_mask(x, r, "mask")
    smooth, m_smooth = fuse_with_mask(x, r, "mask", mask_blur=1.5)
    assert float(m_sharp.std()) > 0.4 and float(m_smooth.std()) < 0.01  # the texture is gone
    assert float((sharp[..., 1:] - sharp[..., :-1]).abs().mean()) > 0.4
    assert float((smooth[..., 1:] - smooth[..., :-1]).abs().mean()) < 0.01
    # a smooth blob survives the blur where it is larger than the blur
    blob = torch.full((1, 2, 32, 32), -8.0)
    blob[:, :, 8:24, 8:24] = 8.0
    m = fuse_with_mask(x, blob, "mask", mask_blur=1.5)[1]
    assert float(m[0, 0, 16, 16]) > 0.99 and float(m[0, 0, 2, 2]) < 0.01


def test_mask_blur_needs_the_mask_fusion():
    cfg = network_preset("small")
    for fusion, blur in (("clamp_add", 1.5), ("mask", -1.0), ("mask", 20.0)):
        gen = dataclasses.replace(cfg.generator, fusion=fusion, mask_blur=blur)
        with pytest.raises(CoinError, match="mask_blur"):
            build_networks(dataclasses.replace(cfg, generator=gen), seed=0, parts=("generator",))
