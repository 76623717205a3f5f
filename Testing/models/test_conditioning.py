"""The one definition of the conditioning and the difference map, used by training, model file, inference
and evaluation alike."""

from __future__ import annotations

import pytest
import torch

from coin_core.models.conditioning import (
    conditions_from_p,
    difference_from_change,
    difference_map,
    target_bins,
    to_bin,
)


def test_target_bins_are_normal_for_coin_and_the_opposite_bin_for_singla():
    p = torch.tensor([0.95, 0.6, 0.4, 0.05])
    assert target_bins("coin", p, 2).tolist() == [0, 0, 0, 0]
    assert target_bins("coin", p, 2).dtype == torch.long
    assert target_bins("singla", p, 2).tolist() == [0, 0, 1, 1]
    assert target_bins("singla", p, 4).tolist() == to_bin(1.0 - p, 4).tolist() == [0, 1, 2, 3]
    for method in ("coin", "singla"):  # training's conditions ask for the same bins
        assert torch.equal(conditions_from_p(method, p, 2).c, target_bins(method, p, 2))


def test_the_difference_map_is_half_the_absolute_change():
    x = torch.tensor([[-1.0, 0.0, 0.5, 1.0]])
    x_cf = torch.tensor([[1.0, 0.2, 0.5, -0.6]])
    torch.testing.assert_close(difference_map(x, x_cf), torch.tensor([[1.0, 0.1, 0.0, 0.8]]))
    assert torch.equal(difference_map(x, x_cf), difference_map(x_cf, x))
    assert difference_from_change(torch.tensor([3.0, -0.4])).tolist() == pytest.approx([1.0, 0.2])  # clamped


def test_the_model_file_conditions_singla_on_the_opposite_bin(tmp_path):
    from coin_testkit import make_tiny_model

    from coin_core.modelfile import load_model

    model = load_model(make_tiny_model(tmp_path / "m", method="singla", gate=False), device="cpu")
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        p = model.probability(x)
        c = target_bins("singla", p, model.card.architecture.generator.num_bins)
        expected = model.generator(model.encoder(x), c, x)
    assert torch.equal(model.counterfactual(x), expected)
