"""Output shapes of f, E, G and D, skip configurations, conditioning and channels_last."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from coin_core.models import build_networks, network_preset
from coin_core.models.classifier import ResNet18Classifier

SKIP_SETS = [s for k in range(5) for s in itertools.combinations((1, 2, 3, 4), k)]


def small_at(size: int, **gen_changes):
    cfg = network_preset("small")
    gen = dataclasses.replace(cfg.generator, **gen_changes)
    return dataclasses.replace(cfg, input_size=size, generator=gen)


def image(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("size", [128, 256])
def test_every_network_gives_the_documented_shapes(size):
    cfg = small_at(size)
    nets = build_networks(cfg, seed=0)
    x = image(2, size)
    feats = nets.encoder(x)
    widths = cfg.encoder.widths
    assert [tuple(h.shape) for h in feats] == [
        (2, w, size // 2 ** (i + 1), size // 2 ** (i + 1)) for i, w in enumerate(widths)
    ]
    x_cf = nets.generator(feats, torch.zeros(2, dtype=torch.long), x)
    assert x_cf.shape == x.shape
    assert x_cf.min() >= -1 and x_cf.max() <= 1
    assert nets.discriminator(x, torch.tensor([0, 1])).shape == (2,)
    assert nets.classifier(x).shape == (2,)
    assert nets.classifier.features(x).shape == (2, 8 * cfg.classifier.base_width)
    assert nets.classifier.feature_map(x).shape == (2, 8 * cfg.classifier.base_width, size // 32, size // 32)


@pytest.mark.parametrize("skips", SKIP_SETS, ids=lambda s: "skips" + "".join(map(str, s)) or "none")
def test_generator_works_with_every_skip_configuration(skips):
    cfg = small_at(128, skips=skips)
    nets = build_networks(cfg, seed=0, parts=("encoder", "generator"))
    x = image(2, 128)
    r = nets.generator.residual(nets.encoder(x), 0)
    assert r.shape == (2, 1, 128, 128)


def test_paper_classifier_gives_512_features_at_256():
    f = ResNet18Classifier(64, 1).eval()
    with torch.no_grad():
        x = image(1, 256)
        assert f.features(x).shape == (1, 512)
        assert f(x).shape == (1,)
        assert f.layer4(torch.zeros(1, 256, 16, 16)).shape == (1, 512, 8, 8)


def test_generator_output_depends_on_the_condition_through_the_cbn_embeddings():
    nets = build_networks(small_at(128), seed=0, parts=("encoder", "generator"))
    enc, gen = nets.encoder.eval(), nets.generator.eval()
    x = image(2, 128)
    with torch.no_grad():
        feats = enc(x)
        r0, r1 = gen.residual(feats, 0), gen.residual(feats, 1)
        assert not torch.allclose(r0, r1)
        # with identical embedding rows the two conditions are indistinguishable
        for m in gen.modules():
            if hasattr(m, "embed"):
                m.embed.weight[1] = m.embed.weight[0]
        assert torch.equal(gen.residual(feats, 0), gen.residual(feats, 1))


def test_discriminator_projection_depends_on_the_condition():
    d = build_networks(small_at(128), seed=0, parts=("discriminator",)).discriminator.eval()
    x = image(2, 128)
    with torch.no_grad():
        assert not torch.allclose(d(x, 0), d(x, 1))
        phi = d.features(x)
        delta = (d.embed.weight[1] - d.embed.weight[0]) @ phi.T
        assert torch.allclose(d(x, 1) - d(x, 0), delta, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_channels_last_gives_the_same_outputs(upsample):
    nets = build_networks(small_at(128, upsample=upsample), seed=0)
    mods = [nets.classifier, nets.encoder, nets.generator, nets.discriminator]
    for m in mods:
        m.eval()
    x = image(2, 128)
    y = torch.tensor([0, 1])
    with torch.no_grad():
        ref = (nets.generator(nets.encoder(x), y, x), nets.discriminator(x, y), nets.classifier(x))
        for m in mods:
            m.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        out = (nets.generator(nets.encoder(xc), y, xc), nets.discriminator(xc, y), nets.classifier(xc))
    for a, b in zip(ref, out, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_gradients_reach_the_input_through_a_frozen_classifier():
    f = build_networks(small_at(128), seed=0, parts=("classifier",)).classifier.eval().requires_grad_(False)
    x = image(2, 128).requires_grad_(True)
    f(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_forward_hook_on_layer4_sees_the_cam_activations():
    f = build_networks(small_at(128), seed=0, parts=("classifier",)).classifier.eval()
    seen = []
    handle = f.layer4.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    with torch.no_grad():
        f(image(2, 128))
    handle.remove()
    assert seen == [torch.Size([2, 8 * f.base_width, 4, 4])]
