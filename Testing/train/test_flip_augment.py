"""gan.augment_flip: a seeded half of every GAN batch mirrored left-right; resume stays bit-exact."""

from __future__ import annotations

import pytest
import torch
from train_helpers import TINY_SIZE, tiny_overrides

from coin_core.config import load_config
from coin_core.data.benchmark import load_split
from coin_core.models import build_networks
from coin_core.train.gan import fit_gan
from coin_core.train.loop import flip_half


def test_flip_half_mirrors_a_seeded_subset_and_nothing_else():
    x = torch.arange(16 * 4 * 5, dtype=torch.float32).view(16, 1, 4, 5)
    a, b = flip_half(x, seed=7, step=3), flip_half(x, seed=7, step=3)
    assert torch.equal(a, b)  # the same (seed, step) mirrors the same samples
    mirrored = [i for i in range(16) if torch.equal(a[i], x[i].flip(-1))]
    kept = [i for i in range(16) if torch.equal(a[i], x[i])]
    assert sorted(mirrored + kept) == list(range(16))  # each sample is either mirrored or untouched
    assert 0 < len(mirrored) < 16
    others = {tuple(i for i in range(16) if not torch.equal(flip_half(x, 7, s)[i], x[i])) for s in range(6)}
    assert len(others) > 1  # other steps mirror other samples


@pytest.fixture(scope="module")
def splits(tiny_bench):
    return load_split(tiny_bench, "train", TINY_SIZE), load_split(tiny_bench, "val", TINY_SIZE)


def _weights(result) -> dict[str, torch.Tensor]:
    return {
        f"{n}/{k}": v.detach().clone()
        for n in ("encoder", "generator", "discriminator")
        for k, v in getattr(result, n).state_dict().items()
    }


def test_flip_changes_training_and_resume_is_bit_exact(splits, tmp_path):
    train, val = splits

    def cfg(steps, flip):
        return load_config("small", tiny_overrides(**{"gan.max_steps": steps, "gan.augment_flip": flip}))

    clf = build_networks(cfg(1, True).model, seed=1, parts=("classifier",)).classifier
    plain = _weights(fit_gan(cfg(6, False), train, val, clf, tmp_path / "plain", device="cpu"))
    straight = _weights(fit_gan(cfg(6, True), train, val, clf, tmp_path / "a", device="cpu"))
    assert any(not torch.equal(plain[k], straight[k]) for k in plain if plain[k].is_floating_point())
    fit_gan(cfg(3, True), train, val, clf, tmp_path / "b", device="cpu")
    resumed = _weights(fit_gan(cfg(6, True), train, val, clf, tmp_path / "b", resume=True, device="cpu"))
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
