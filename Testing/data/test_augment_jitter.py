"""The classifier augmentation's optional intensity jitter and noise (off by default, as in the paper)."""

from __future__ import annotations

import pytest
import torch

from coin_core.data.dataset import ClassifierAugment
from coin_core.errors import CoinError


def _item():
    g = torch.Generator().manual_seed(0)
    image = torch.rand((1, 16, 16), generator=g) * 1.6 - 0.8
    lesion = (torch.rand((1, 16, 16), generator=g) > 0.7).float()
    return {"image": image, "lesion": lesion, "label": torch.tensor(1.0)}


def _draws(aug, n=6):
    item = _item()
    return [aug(item)["image"] for _ in range(n)]


def test_defaults_draw_the_papers_transform_unchanged():
    plain = _draws(ClassifierAugment(seed=3))
    zero = _draws(ClassifierAugment(seed=3, intensity=0.0, noise_std=0.0))
    assert all(torch.equal(a, b) for a, b in zip(plain, zero, strict=True))


def test_jitter_and_noise_change_only_the_image_and_stay_in_range():
    item = _item()
    aug = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=0, intensity=0.2, noise_std=0.1, seed=1)
    out = aug(item)
    assert torch.equal(out["lesion"], item["lesion"])  # no geometry: the mask is untouched
    diff = out["image"] - item["image"]
    assert diff.abs().max() > 0.05 and out["image"].min() >= -1.0 and out["image"].max() <= 1.0
    # the noise is per pixel (not a constant offset) and reproducible from the seed
    assert diff.std() > 0.05
    again = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=0, intensity=0.2, noise_std=0.1, seed=1)
    assert torch.equal(again(item)["image"], out["image"])


def test_intensity_alone_is_an_affine_map_of_the_image():
    item = _item()
    out = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=0, intensity=0.1, seed=2)(item)["image"]
    x, y = item["image"].flatten(), out.flatten()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    assert 0.9 <= float(slope) <= 1.1 and float(slope) != pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(y, slope * x + (y.mean() - slope * x.mean()), atol=1e-5)


def test_negative_strengths_are_refused():
    with pytest.raises(CoinError, match="noise_std"):
        ClassifierAugment(noise_std=-0.1)
    with pytest.raises(CoinError, match="intensity"):
        ClassifierAugment(intensity=-1)
