"""Attribution baselines: shapes, ranges, and that each one finds a bright blob on a phantom slice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from coin_core.data.phantom import make_phantom
from coin_core.errors import CoinError
from coin_core.evaluation.baselines import gradcam, layercam, rise, rise_masks, scorecam
from coin_core.models.classifier import ResNet18Classifier

BASELINES = {
    "rise": lambda f, x: rise(f, x, n_masks=500, batch_size=100),
    "scorecam": scorecam,
    "layercam": layercam,
    "gradcam": gradcam,
}


@pytest.fixture(scope="module")
def blob_slice():
    """A 96x96 phantom slice through the kidneys with a hyperdense lesion, windowed to [-1, 1]."""
    image, _, lesion = make_phantom(
        shape=(8, 96, 96),
        spacing=(2.5, 2.5, 5.0),
        seed=3,
        lesions=[{"center": (2, 60, 31), "radius_mm": 9.0, "hu": 1150.0}],
        noise_hu=10.0,
    )
    k = int(np.argmax(lesion.array.sum(axis=(1, 2))))
    x = np.clip((image.array[k] + 200.0) / 1400.0 * 2.0 - 1.0, -1, 1).astype(np.float32)
    mask = lesion.array[k].astype(bool)
    assert 10 < mask.sum() < 200
    return torch.from_numpy(x)[None, None], mask


def test_the_blob_detector_sees_the_blob(blob_slice, blob_detector):
    x, mask = blob_slice
    f = blob_detector
    without = x.clone()
    without[0, 0][torch.from_numpy(mask)] = 0.0
    assert torch.sigmoid(f(x)) > 0.9 > 0.1 > torch.sigmoid(f(without))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_peaks_inside_the_blob(name, blob_slice, blob_detector):
    x, mask = blob_slice
    sal = BASELINES[name](blob_detector, x)
    assert sal.shape == x.shape and sal.dtype == torch.float32
    s = sal[0, 0].numpy()
    assert s.min() == pytest.approx(0.0, abs=1e-6) and s.max() == pytest.approx(1.0, abs=1e-6)
    inside, outside = s[mask].mean(), s[~mask].mean()
    assert inside > 3 * outside, f"{name}: blob {inside:.3f} vs background {outside:.3f}"
    # the maximum lies on the blob or right next to it (bilinear up-sampling spreads it a little)
    peak = np.unravel_index(np.argmax(s), s.shape)
    yy, xx = np.nonzero(mask)
    assert np.min(np.hypot(yy - peak[0], xx - peak[1])) <= 4


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_returns_one_normalised_map_per_image_for_a_resnet(name):
    torch.manual_seed(0)
    f = ResNet18Classifier(base_width=4).eval().requires_grad_(False)
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.inference_mode():  # the gradient methods must still work here
        sal = BASELINES[name](f, x)
    assert sal.shape == (2, 1, 64, 64)
    assert torch.isfinite(sal).all() and sal.min() >= 0 and sal.max() <= 1
    for b in range(2):
        assert sal[b].max() == pytest.approx(1.0, abs=1e-6) or sal[b].max() == 0


def test_rise_masks_follow_the_paper_recipe_and_repeat_with_the_seed():
    a = torch.cat(list(rise_masks(300, 64, grid=8, p1=0.1, seed=5, batch_size=128)))
    b = torch.cat(list(rise_masks(300, 64, grid=8, p1=0.1, seed=5, batch_size=128)))
    c = torch.cat(list(rise_masks(300, 64, grid=8, p1=0.1, seed=6, batch_size=128)))
    assert a.shape == (300, 1, 64, 64)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    assert 0.06 < a.mean().item() < 0.14  # keep-probability 0.1


def test_baselines_reject_inputs_that_are_not_single_channel_batches(blob_detector):
    f = blob_detector
    with pytest.raises(CoinError, match=r"\[B, 1, H, W\].*\(1, 3, 8, 8\)"):
        gradcam(f, torch.zeros(1, 3, 8, 8))
    with pytest.raises(CoinError, match="layer4"):
        layercam(nn.Sequential(nn.Conv2d(1, 1, 1)), torch.zeros(1, 1, 8, 8))
