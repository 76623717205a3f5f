"""nnU-Net / MSD raw layout: reading a written phantom dataset, the MSD variant, and every error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coin_core.data.nnunet import read_nnunet, write_dataset_json, write_nnunet_case
from coin_core.data.phantom import make_phantom, write_phantom_dataset
from coin_core.errors import CoinError
from coin_core.io import read_volume

SHAPE = (6, 24, 32)


@pytest.fixture
def phantom_ds(tmp_path):
    return write_phantom_dataset(tmp_path / "ds", n_cases=2, shape=SHAPE, seed=5)


def test_written_phantom_dataset_reads_back(phantom_ds):
    ds = read_nnunet(phantom_ds.root)
    assert [c.id for c in ds.cases] == ["phantom_000", "phantom_001"]
    assert ds.labels == {"background": 0, "kidney": 1, "liver": 2, "spleen": 3}
    assert ds.channel_names == {"0": "CT"}
    assert ds.label_ids(["kidney", "spleen", 7]) == [1, 3, 7]
    case = ds.case("phantom_001")
    assert case.image.name == "phantom_001_0000.nii.gz" and case.label.name == "phantom_001.nii.gz"
    img, lab, _ = make_phantom(shape=SHAPE, seed=6)
    got_img, got_lab = read_volume(case.image), read_volume(case.label)
    np.testing.assert_array_equal(got_img.array, np.round(img.array).astype(np.int16))
    np.testing.assert_array_equal(got_lab.array, lab.array)
    assert got_lab.array.dtype == np.uint8
    np.testing.assert_allclose(got_img.spacing, img.spacing)
    meta = json.loads((phantom_ds.root / "dataset.json").read_text())
    assert meta["numTraining"] == 2 and meta["file_ending"] == ".nii.gz"


def test_unknown_label_name_and_case(phantom_ds):
    with pytest.raises(CoinError, match="no label named 'tumour'") as err:
        phantom_ds.label_ids(["tumour"])
    assert "kidney=1" in str(err.value)
    with pytest.raises(CoinError, match="no case 'x'"):
        phantom_ds.case("x")


def test_missing_dataset_json(tmp_path):
    with pytest.raises(CoinError, match="No dataset.json"):
        read_nnunet(tmp_path)


def test_image_without_label(phantom_ds):
    (phantom_ds.root / "labelsTr" / "phantom_001.nii.gz").unlink()
    with pytest.raises(CoinError, match="no label file .*phantom_001"):
        read_nnunet(phantom_ds.root)
    ds = read_nnunet(phantom_ds.root, require_labels=False)
    assert ds.case("phantom_001").label is None and ds.case("phantom_000").label is not None


def test_label_without_image(phantom_ds):
    (phantom_ds.root / "imagesTr" / "phantom_000_0000.nii.gz").unlink()
    with pytest.raises(CoinError, match="label file.* without an image: phantom_000"):
        read_nnunet(phantom_ds.root)


def test_bad_json_and_bad_labels(tmp_path):
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(CoinError, match="not valid JSON"):
        read_nnunet(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"kidney": "one"}}))
    with pytest.raises(CoinError, match="label entry 'kidney'"):
        read_nnunet(tmp_path)


def test_msd_dataset_json_with_training_list(tmp_path):
    root = tmp_path / "Task03_Liver"
    img, lab, _ = make_phantom(shape=SHAPE, seed=1)
    write_nnunet_case(root, "liver_0", img, lab)
    # MSD names images without the channel suffix; the reader accepts both
    (root / "imagesTr" / "liver_0_0000.nii.gz").rename(root / "imagesTr" / "liver_0.nii.gz")
    meta = {
        "name": "Liver",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "training": [{"image": "./imagesTr/liver_0.nii.gz", "label": "./labelsTr/liver_0.nii.gz"}],
    }
    (root / "dataset.json").write_text(json.dumps(meta))
    ds = read_nnunet(root)
    assert ds.labels == {"background": 0, "liver": 1, "cancer": 2}
    assert ds.channel_names == {"0": "CT"} and ds.name == "Liver"
    assert [(c.id, c.image.name, c.label.name) for c in ds.cases] == [
        ("liver_0", "liver_0.nii.gz", "liver_0.nii.gz")
    ]
    meta["training"][0]["label"] = "./labelsTr/missing.nii.gz"
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(CoinError, match=r"training\[0\] label not found"):
        read_nnunet(root)


def test_writer_checks_label_shape_and_adds_background(tmp_path):
    img, lab, _ = make_phantom(shape=SHAPE, seed=1)
    with pytest.raises(CoinError, match="shape"):
        write_nnunet_case(
            tmp_path, "c", img, type(lab)(lab.array[:-1], lab.spacing, lab.origin, lab.direction)
        )
    write_nnunet_case(tmp_path, "c", img, lab)
    write_dataset_json(tmp_path, {"kidney": 1})
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "kidney": 1} and meta["numTraining"] == 1


def test_images_without_channel_suffix_are_explained(tmp_path):
    img, lab, _ = make_phantom(shape=SHAPE, seed=1)
    write_nnunet_case(tmp_path, "c", img)
    (tmp_path / "imagesTr" / "c_0000.nii.gz").rename(tmp_path / "imagesTr" / "c.nii.gz")
    write_dataset_json(tmp_path, {"kidney": 1})
    with pytest.raises(CoinError, match="no images found") as err:
        read_nnunet(tmp_path)
    assert "<case>_0000.nii.gz" in str(err.value)
