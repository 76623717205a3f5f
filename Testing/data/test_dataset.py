"""SliceDataset items over real SliceArrays, and the classifier augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from coin_core.data.benchmark import SliceArrays
from coin_core.data.dataset import ClassifierAugment, SliceDataset
from coin_core.errors import CoinError


def _arrays(n=6, s=32):
    rng = np.random.default_rng(0)
    lesion = np.zeros((n, s, s), np.uint8)
    lesion[::2, 10:14, 12:18] = 1
    return SliceArrays(
        image=rng.uniform(-1, 1, (n, s, s)).astype(np.float16),
        label=(np.arange(n) % 2 == 0).astype(np.uint8),
        lesion=lesion,
        has_mask=np.ones(n, np.uint8),
        host=np.zeros((n, s, s), np.uint8),
        case=np.zeros(n, np.int32),
        slice_index=np.arange(n, dtype=np.int32),
        draw=np.zeros(n, np.int32),
    )


def test_items_have_the_contract_shapes_and_dtypes():
    arrays = _arrays()
    ds = SliceDataset(arrays)
    assert len(ds) == 6
    item = ds[2]
    assert set(item) == {"image", "label", "lesion", "index"}
    assert item["image"].shape == (1, 32, 32) and item["image"].dtype == torch.float32
    assert item["lesion"].shape == (1, 32, 32) and item["lesion"].dtype == torch.float32
    assert item["label"].shape == () and item["label"].dtype == torch.float32 and item["label"] == 1.0
    assert item["index"] == 2
    np.testing.assert_array_equal(item["image"][0].numpy(), arrays.image[2].astype(np.float32))
    assert item["lesion"].sum() == 24 and ds[1]["lesion"].sum() == 0
    assert ds[-1]["index"] == 5
    with pytest.raises(IndexError):
        ds[6]


def test_arrays_stay_compact_and_items_do_not_write_through():
    arrays = _arrays()
    ds = SliceDataset(arrays)
    assert ds.arrays.image.dtype == np.float16 and ds.arrays.lesion.dtype == np.uint8
    assert np.shares_memory(ds.arrays.image, arrays.image)
    ds[0]["image"].fill_(5.0)
    assert float(arrays.image[0].max()) <= 1.0
    np.testing.assert_array_equal(ds.labels, [1, 0, 1, 0, 1, 0])


def test_dataloader_batches():
    batch = next(iter(DataLoader(SliceDataset(_arrays()), batch_size=4)))
    assert batch["image"].shape == (4, 1, 32, 32) and batch["label"].shape == (4,)
    assert batch["index"].tolist() == [0, 1, 2, 3]


def test_inconsistent_arrays_are_refused():
    a = _arrays()
    a.label = a.label[:3]
    with pytest.raises(CoinError, match="inconsistent"):
        SliceDataset(a)


def test_flip_moves_image_and_lesion_together():
    ds = SliceDataset(_arrays(), transform=ClassifierAugment(hflip_p=1.0, vflip_p=0.0, ssr_p=0.0))
    plain = SliceDataset(_arrays())[0]
    item = ds[0]
    assert torch.equal(item["image"], plain["image"].flip(-1))
    assert torch.equal(item["lesion"], plain["lesion"].flip(-1))


def test_shift_scale_rotate_fills_with_air_and_is_seeded():
    item = {
        "image": torch.full((1, 32, 32), 0.5),
        "lesion": torch.ones(1, 32, 32),
        "label": torch.tensor(1.0),
    }
    aug = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=1.0, shift=0.2, scale=0.1, rotate_deg=10, seed=4)
    out = aug(item)
    img = out["image"]
    assert img.shape == (1, 32, 32)
    assert img.min() >= -1.0 - 1e-5 and img.max() <= 0.5 + 1e-5
    assert (img < -0.999).sum() > 0  # uncovered corners are air (-1), not mid-grey 0
    assert ((img > -0.999) & (img < 0.499)).float().mean() < 0.2  # only a thin blended edge
    assert set(out["lesion"].unique().tolist()) <= {0.0, 1.0}  # mask stays binary
    again = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=1.0, shift=0.2, scale=0.1, rotate_deg=10, seed=4)
    assert torch.equal(again(item)["image"], img)
    assert torch.equal(item["image"], torch.full((1, 32, 32), 0.5))  # input untouched


def test_augment_rejects_bad_probability():
    with pytest.raises(CoinError, match="hflip_p"):
        ClassifierAugment(hflip_p=1.5)


def test_loader_workers_draw_different_augmentations_reproducibly():
    arrays = _arrays(n=8)
    arrays.image[:] = arrays.image[0]  # identical slices: any difference comes from the transform
    aug = ClassifierAugment(hflip_p=0, vflip_p=0, ssr_p=1.0, shift=0.2, seed=1)

    def two_epochs():
        gen = torch.Generator().manual_seed(0)
        loader = DataLoader(SliceDataset(arrays, transform=aug), batch_size=4, num_workers=2, generator=gen)
        return [[b["image"] for b in loader] for _ in range(2)]

    first = two_epochs()
    assert not torch.equal(first[0][0], first[0][1])  # the two workers do not repeat each other
    assert not torch.equal(first[0][0], first[1][0])  # nor does the next epoch repeat this one
    second = two_epochs()  # same loader seed, same draws
    assert all(torch.equal(a, b) for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True))
