"""Parameter counts of the presets and the architecture config's round trip and validation."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from coin_core.errors import CoinError
from coin_core.models import (
    FUSIONS,
    GeneratorConfig,
    NetworkConfig,
    build_networks,
    network_preset,
)
from coin_core.models.blocks import count_parameters


def within(actual: int, expected: float, rel: float = 0.005) -> bool:
    return abs(actual - expected) <= rel * expected


def test_paper_preset_matches_the_parameter_counts_of_method_5_4():
    nets = build_networks(network_preset("paper"), seed=0)
    e, g = count_parameters(nets.encoder), count_parameters(nets.generator)
    d, f = count_parameters(nets.discriminator), count_parameters(nets.classifier)
    print(f"paper: E={e} G={g} E+G={e + g} D={d} f={f}")
    assert within(e, 19.58e6)
    assert within(g, 33.53e6)
    assert within(e + g, 53.1e6)
    assert within(d, 38.42e6)
    assert within(f, 11.17e6)


def test_paper_generator_without_skips_has_the_smaller_count_of_method_5_4():
    cfg = network_preset("paper")
    cfg = dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, skips=()))
    g = count_parameters(build_networks(cfg, parts=("generator",)).generator)
    assert within(g, 30.04e6)


def test_small_preset_is_much_smaller_than_paper():
    nets = build_networks(network_preset("small"), seed=0)
    counts = {
        k: count_parameters(getattr(nets, k)) for k in ("classifier", "encoder", "generator", "discriminator")
    }
    print(f"small: {counts}")
    assert counts["encoder"] + counts["generator"] < 0.05 * 53.1e6
    assert counts["discriminator"] < 0.05 * 38.42e6


def test_spectral_norm_adds_buffers_not_parameters():
    cfg = network_preset("small")
    no_sn = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, sn_shortcut=False))
    with_sn_enc = build_networks(cfg, parts=("encoder",)).encoder
    plain_enc = build_networks(no_sn, parts=("encoder",)).encoder
    assert count_parameters(with_sn_enc) == count_parameters(plain_enc)
    assert any("parametrizations" in k for k in with_sn_enc.state_dict())
    assert not any("parametrizations" in k for k in plain_enc.state_dict())


@pytest.mark.parametrize("name", ["paper", "small"])
def test_config_round_trips_through_json(name):
    cfg = network_preset(name)
    again = NetworkConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_config_key_is_an_error_naming_the_key():
    data = network_preset("small").to_dict()
    data["generator"]["skip_conn"] = [1]
    with pytest.raises(CoinError, match="skip_conn"):
        NetworkConfig.from_dict(data, source="model.json architecture")


def test_unknown_fusion_is_an_error_listing_the_valid_names():
    with pytest.raises(CoinError) as err:
        NetworkConfig(generator=GeneratorConfig(fusion="tanh_plus"))
    for name in FUSIONS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "change",
    [
        {"input_size": 100},
        {"generator": GeneratorConfig(skips=(5,))},
        {"generator": GeneratorConfig(upsample="bicubic")},
        {"generator": GeneratorConfig(num_bins=3)},  # D keeps 2
    ],
)
def test_invalid_configs_are_refused(change):
    with pytest.raises(CoinError):
        NetworkConfig(**change)


def test_unknown_preset_is_an_error():
    with pytest.raises(CoinError, match="huge"):
        network_preset("huge")


def test_same_seed_gives_the_same_weights_and_leaves_the_global_rng_alone():
    cfg = network_preset("small")
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = build_networks(cfg, seed=7)
    after = torch.rand(3)
    b = build_networks(cfg, seed=7)
    c = build_networks(cfg, seed=8)
    assert torch.equal(before, after)
    for part in ("classifier", "encoder", "generator", "discriminator"):
        sa, sb, sc = (getattr(n, part).state_dict() for n in (a, b, c))
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_unknown_network_part_is_an_error():
    with pytest.raises(CoinError, match="critic"):
        build_networks(network_preset("small"), parts=("critic",))


def xavier_bound(weight: torch.Tensor, gain: float) -> float:
    fan_in, fan_out = weight.shape[1] * weight[0, 0].numel(), weight.shape[0] * weight[0, 0].numel()
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def test_initialisation_follows_method_5():
    nets = build_networks(network_preset("small"), seed=0)
    block = nets.encoder.blocks[2]
    w3 = block.conv1.weight
    assert 0.9 * xavier_bound(w3, math.sqrt(2)) < w3.abs().max() <= xavier_bound(w3, math.sqrt(2))
    w1 = block.shortcut.parametrizations.weight.original  # the raw weight under spectral norm
    assert 0.9 * xavier_bound(w1, 1.0) < w1.abs().max() <= xavier_bound(w1, 1.0)
    emb = nets.generator.blocks[1].cbn1.embed.weight.detach()
    c = emb.shape[1] // 2
    assert abs(float(emb[:, :c].mean()) - 1.0) < 0.01 and 0.01 < float(emb[:, :c].std()) < 0.03
    assert torch.count_nonzero(emb[:, c:]) == 0
