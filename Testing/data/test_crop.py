"""The host-organ box (coin_core/data/crop.py): where it sits, what it holds, and the way back."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.data.crop import Box, HostCrop, crop_slices, paste_slices
from coin_core.errors import CoinError


def _host(shape=(100, 120), rows=(40, 60), cols=(30, 90)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[rows[0] : rows[1], cols[0] : cols[1]] = True
    return m


def test_the_box_has_the_physical_size_and_is_centred_on_the_host():
    box = HostCrop((20.0, 80.0)).box(_host(), pixel_mm=(0.5, 1.0))
    assert (box.h, box.w) == (40, 80)  # 20 mm / 0.5 mm rows, 80 mm / 1 mm columns
    assert box.r0 + box.h / 2 == pytest.approx(50.0) and box.c0 + box.w / 2 == pytest.approx(60.0)
    assert HostCrop((20.0, 80.0)).box(np.zeros((10, 10), bool), (1.0, 1.0)) is None


def test_a_crop_holds_the_box_pixels_and_air_beyond_the_slice():
    img = np.arange(100 * 120, dtype=np.float32).reshape(1, 100, 120) / 12000.0
    inside = crop_slices(img, [Box(10, 20, 32, 32)], 32, "image")[0]
    np.testing.assert_allclose(inside, img[0, 10:42, 20:52], atol=1e-6)  # same size: no resampling
    edge = crop_slices(img, [Box(-8, -8, 16, 16)], 16, "image")[0]
    assert (edge[:8] == -1.0).all() and (edge[:, :8] == -1.0).all()
    np.testing.assert_allclose(edge[8:, 8:], img[0, :8, :8], atol=1e-6)
    mask = crop_slices(np.ones((1, 100, 120), np.uint8), [Box(-8, -8, 16, 16)], 16, "mask")[0]
    assert mask.dtype == np.uint8 and mask[:8].sum() == 0 and mask[8:, 8:].all()


def test_paste_puts_a_box_map_back_where_it_came_from_and_nowhere_else():
    host = _host()
    box = HostCrop((20.0, 80.0)).box(host, (0.5, 1.0))
    truth = np.zeros((1, 100, 120), np.float32)
    truth[0, 45:55, 50:70] = 1.0  # a lesion inside the box
    small = crop_slices(truth, [box], 32, "image", fill=0.0)
    back = paste_slices(small, [box, None][:1], (100, 120))[0]
    outside = np.ones((100, 120), bool)
    outside[box.r0 : box.r0 + box.h, box.c0 : box.c0 + box.w] = False
    assert back[outside].max() == 0.0
    hit = back > 0.5
    iou = (hit & (truth[0] > 0)).sum() / (hit | (truth[0] > 0)).sum()
    assert iou > 0.8  # resampled twice (40 x 80 -> 32 x 32 -> 40 x 80), same place
    assert paste_slices(small, [None], (100, 120)).max() == 0.0


def test_a_box_side_out_of_range_is_refused_with_the_key():
    with pytest.raises(CoinError, match="crop.size_mm"):
        from coin_core.config import load_config

        load_config("kidney_crop", {"crop.size_mm": [5, 216]})
    with pytest.raises(CoinError, match="input_crop"):
        HostCrop.from_dict({"kind": "other"}, "model.json: input_crop")


def test_the_kidney_crop_preset_and_the_card_carry_the_box(tmp_path):
    from coin_testkit import make_tiny_model

    from coin_core.config import load_config
    from coin_core.modelfile import load_model, read_card, save_model
    from coin_core.train.pipeline import card_crop

    cfg = load_config("kidney_crop")
    assert cfg.crop is not None and tuple(cfg.crop.size_mm) == (108.0, 216.0)
    assert card_crop(load_config("kidney_mask")) is None
    model = load_model(make_tiny_model(tmp_path / "m", gate=False), device="cpu")
    import dataclasses

    card = dataclasses.replace(model.card, input_crop=card_crop(cfg))
    save_model(tmp_path / "c", card, model.classifier, model.encoder, model.generator)
    assert read_card(tmp_path / "c").input_crop == HostCrop((108.0, 216.0))
    assert read_card(tmp_path / "m").input_crop is None


def test_a_gan_run_refuses_a_classifier_trained_on_other_geometry(tmp_path):
    from coin_core.config import load_config
    from coin_core.train.pipeline import _check_crop

    _check_crop({"input_crop": [108.0, 216.0]}, load_config("kidney_crop"), tmp_path)
    _check_crop({}, load_config("kidney_mask"), tmp_path)
    with pytest.raises(CoinError, match="whole slices"):
        _check_crop({}, load_config("kidney_crop"), tmp_path)
    with pytest.raises(CoinError, match="108 x 216 mm"):
        _check_crop({"input_crop": [108.0, 216.0]}, load_config("kidney_mask"), tmp_path)
