"""The perturbation fusions and spectral normalisation in eval mode."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from coin_core.errors import CoinError
from coin_core.models import FUSIONS, build_networks, network_preset
from coin_core.models.generator import fuse


def image() -> torch.Tensor:
    # includes the saturated values -1 and 1 that tanh(x + r) cannot reproduce
    return torch.tensor([[[[-1.0, -0.5], [0.0, 1.0]]]])


@pytest.mark.parametrize("fusion", ["clamp_add", "add_tanh"])
def test_identity_fusions_return_x_for_a_zero_perturbation(fusion):
    x = image()
    assert torch.equal(fuse(x, torch.zeros_like(x), fusion), x)


def test_paper_fusion_tanh_add_cannot_express_the_identity():
    x = image()
    out = fuse(x, torch.zeros_like(x), "tanh_add")
    assert torch.allclose(out, torch.tanh(x))
    assert not torch.allclose(out, x, atol=1e-2)
    # the perturbation that would restore x is atanh(x) - x: infinite at the saturated pixels
    needed = torch.atanh(x) - x
    assert torch.isinf(needed[0, 0, 0, 0]) and torch.isinf(needed[0, 0, 1, 1])


def test_fusions_on_hand_computed_values():
    x = torch.tensor([0.5, -0.5, 0.9])
    r = torch.tensor([0.25, -1.0, 0.5])
    assert torch.allclose(fuse(x, r, "clamp_add"), torch.tensor([0.75, -1.0, 1.0]))
    t = torch.tanh(r)
    assert torch.allclose(fuse(x, r, "add_tanh"), torch.clamp(x + t, -1, 1))
    assert torch.allclose(fuse(x, r, "tanh_add"), torch.tanh(torch.tensor([0.75, -1.5, 1.4])))
    assert torch.allclose(fuse(None, r, "tanh"), t)


def test_unknown_fusion_name_lists_the_valid_ones():
    with pytest.raises(CoinError) as err:
        fuse(image(), image(), "sum")
    assert all(name in str(err.value) for name in FUSIONS)


def test_generator_uses_its_configured_fusion():
    cfg = network_preset("small")
    cfg = dataclasses.replace(cfg, generator=dataclasses.replace(cfg.generator, fusion="tanh_add"))
    nets = build_networks(cfg, seed=0, parts=("encoder", "generator"))
    nets.generator.eval()  # in train mode each forward runs a power iteration of the SN shortcuts
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    with torch.no_grad():
        feats = nets.encoder(x)
        r = nets.generator.residual(feats, 0)
        assert torch.equal(nets.generator(feats, 0, x), torch.tanh(x + r))


def sn_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_spectral_norm_is_frozen_in_eval_mode():
    d = build_networks(network_preset("small"), seed=0, parts=("discriminator",)).discriminator
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    d.train()
    d(x, 0)  # one power iteration so u, v are not at their initial values
    d.eval()
    before = sn_state(d)
    with torch.no_grad():
        outs = [d(x, 0) for _ in range(3)]
    after = sn_state(d)
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any("_u" in k for k in before)


def test_spectral_norm_power_iteration_runs_in_train_mode():
    d = build_networks(network_preset("small"), seed=0, parts=("discriminator",)).discriminator.train()
    x = torch.rand(2, 1, 128, 128) * 2 - 1
    before = sn_state(d)
    with torch.no_grad():
        d(x, 0)
    after = sn_state(d)
    changed = [k for k in before if k.endswith("_u") and not torch.equal(before[k], after[k])]
    assert changed


def test_spectral_norm_bounds_the_largest_singular_value():
    d = build_networks(network_preset("small"), seed=0, parts=("discriminator",)).discriminator.train()
    x = torch.rand(1, 1, 32, 32) * 2 - 1  # D is fully convolutional; a small input keeps this quick
    with torch.no_grad():
        for _ in range(30):
            d(x, 0)
    d.eval()
    w = d.blocks[2].conv1.weight  # the normalised weight
    sigma = torch.linalg.matrix_norm(w.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1.0) < 0.05
