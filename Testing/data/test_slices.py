"""Slices to the square model input and back: geometry, padding, round trips, stacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coin_core.data.slices import SliceGeometry, plan_slice, to_model, to_native
from coin_core.errors import CoinError


def _smooth_image(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.sin(yy / h * 3.0) * np.cos(xx / w * 2.0) * 0.8


def _blocky_mask(h, w, block):
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 3, size=(-(-h // block), -(-w // block))).astype(np.uint8)
    return np.kron(coarse, np.ones((block, block), np.uint8))[:h, :w]


def test_plan_keeps_aspect_ratio_and_centres_the_padding():
    assert plan_slice((512, 512), 256) == SliceGeometry((512, 512), 256, (256, 256), (0, 0))
    assert plan_slice((100, 60), 256) == SliceGeometry((100, 60), 256, (256, 154), (0, 51))
    assert plan_slice((60, 100), 256) == SliceGeometry((60, 100), 256, (154, 256), (51, 0))
    assert plan_slice((133, 238, 145), 256).native_shape == (238, 145)  # a leading N is ignored
    with pytest.raises(CoinError):
        plan_slice((0, 10), 256)


def test_padding_values_image_air_and_mask_zero():
    geom = plan_slice((64, 32), 64)
    img = to_model(np.full((64, 32), 0.5, np.float32), geom, "image")
    msk = to_model(np.ones((64, 32), np.uint8), geom, "mask")
    assert img.shape == msk.shape == (64, 64)
    assert img.dtype == np.float32 and msk.dtype == np.uint8
    np.testing.assert_array_equal(img[:, :16], -1.0)
    np.testing.assert_array_equal(img[:, 48:], -1.0)
    np.testing.assert_allclose(img[:, 16:48], 0.5, atol=1e-6)
    assert msk[:, :16].max() == 0 and msk[:, 48:].max() == 0 and msk[:, 16:48].min() == 1


@pytest.mark.parametrize("shape", [(96, 96), (120, 80), (70, 130), (40, 24)])
def test_round_trip_restores_native_shape_and_values(shape):
    geom = plan_slice(shape, 64)
    img = _smooth_image(*shape)
    back = to_native(to_model(img, geom, "image"), geom, "image")
    assert back.shape == shape and back.dtype == np.float32
    assert np.abs(back - img).max() < 0.06
    mask = _blocky_mask(*shape, block=16)
    mback = to_native(to_model(mask, geom, "mask"), geom, "mask")
    assert mback.shape == shape and mback.dtype == np.uint8
    assert set(np.unique(mback)) <= set(np.unique(mask))
    assert (mback == mask).mean() > 0.95


def test_square_round_trips_are_exact_for_masks():
    mask = _blocky_mask(128, 128, block=2)
    geom = plan_slice((128, 128), 64)  # exact 2x: nearest keeps 2x2 blocks intact
    np.testing.assert_array_equal(to_native(to_model(mask, geom, "mask"), geom, "mask"), mask)
    same = plan_slice((64, 64), 64)  # no resize at all: identity for both kinds, and a copy
    img = _smooth_image(64, 64)
    out = to_model(img, same, "image")
    np.testing.assert_array_equal(out, img)
    out[0, 0] = 99.0
    assert img[0, 0] != 99.0
    np.testing.assert_array_equal(
        to_native(to_model(mask[:64, :64], same, "mask"), same, "mask"), mask[:64, :64]
    )


def test_stack_equals_slice_by_slice_and_tensors_stay_tensors():
    shape = (5, 90, 60)
    rng = np.random.default_rng(1)
    stack = rng.normal(size=shape).astype(np.float32)
    geom = plan_slice(shape, 48)
    out = to_model(stack, geom, "image")
    assert out.shape == (5, 48, 48)
    for k in range(5):
        np.testing.assert_allclose(out[k], to_model(stack[k], geom, "image"), atol=1e-6)
    t = to_model(torch.from_numpy(stack), geom, "image")
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), out, atol=1e-6)
    labels = torch.from_numpy(rng.integers(0, 4, size=shape).astype(np.int64))
    back = to_native(to_model(labels, geom, "mask"), geom, "mask")
    assert back.dtype == torch.int64 and tuple(back.shape) == shape


def test_shrinking_is_antialiased():
    # white noise shrunk 4x: an antialiased resize averages ~16 pixels (std ~0.25); plain bilinear
    # samples 2 x 2 pixels (std 0.5) and aliases the noise texture
    noise = np.random.default_rng(0).normal(size=(128, 128)).astype(np.float32)
    out = to_model(noise, plan_slice((128, 128), 32), "image")
    assert out.std() < 0.35


def test_shape_and_kind_errors():
    geom = plan_slice((32, 32), 16)
    with pytest.raises(CoinError, match="expected a slice"):
        to_model(np.zeros((30, 32)), geom)
    with pytest.raises(CoinError, match="expected a slice"):
        to_native(np.zeros((32, 32)), geom)
    with pytest.raises(CoinError, match="kind"):
        to_model(np.zeros((32, 32)), geom, kind="label")
