"""segment_volume with a host-organ-box model: the box follows the host mask, nothing changes outside it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import OracleModel

from coin_core.data.crop import HostCrop
from coin_core.errors import CoinError
from coin_core.infer.segment import host_mask, host_slice_filter, segment_volume


@pytest.fixture(scope="module")
def kidney_phantom():  # noqa: ANN201
    from coin_core.data.phantom import make_phantom

    lesion = {"center": (3, 40, 20), "radius_mm": (8.0, 12.0, 12.0), "hu": 300.0}
    return make_phantom(shape=(12, 64, 64), spacing=(1.8, 2.0, 4.0), lesions=[lesion], noise_hu=5.0)


def _boxed(model, size_mm=(60.0, 110.0)):  # noqa: ANN001, ANN202
    boxed = OracleModel(model._model)
    boxed.card = dataclasses.replace(model.card, input_crop=HostCrop(size_mm))
    return boxed


def test_a_boxed_model_finds_the_lesion_inside_its_box_and_changes_nothing_outside(
    kidney_phantom, oracle_model
):
    image, labels, lesion = kidney_phantom
    model = _boxed(oracle_model)
    organ = host_mask(image, labels, [1])
    keep = host_slice_filter(image, labels, [1], 32)
    r = segment_volume(image, model, threshold=0.1, precision="fp32", slice_filter=keep, host=organ)
    found, truth = r.mask.array.astype(bool), lesion.array.astype(bool)
    assert 2 * (found & truth).sum() / (found.sum() + truth.sum()) > 0.8
    boxes = model.card.input_crop.boxes(organ, (2.0, 1.8))  # canonical rows: y spacing 2.0; columns: x 1.8
    inside = np.zeros(organ.shape, bool)
    for k, b in enumerate(boxes):
        if b is not None:
            inside[k, max(b.r0, 0) : b.r0 + b.h, max(b.c0, 0) : b.c0 + b.w] = True
    assert r.difference.array[~inside].max() == 0.0  # identity direction: canonical = stored order
    assert r.info["slice_selection"] == "host mask"
    assert not r.counterfactual_made[~organ.reshape(organ.shape[0], -1).any(1)].any()


def test_a_boxed_model_without_a_host_mask_is_refused_with_what_to_do(kidney_phantom, oracle_model):
    image, _, _ = kidney_phantom
    with pytest.raises(CoinError, match="box around the host organ") as err:
        segment_volume(image, _boxed(oracle_model), precision="fp32")
    assert "--host-mask" in err.value.hint
    with pytest.raises(CoinError, match="host mask has shape"):
        segment_volume(image, _boxed(oracle_model), precision="fp32", host=np.ones((3, 4, 4), bool))


def test_coin_segment_refuses_a_boxed_model_without_host_mask_before_reading_the_ct(tmp_path, model_dir):
    import json
    import shutil

    from test_segment_cmd import segment

    boxed = tmp_path / "boxed"
    shutil.copytree(model_dir, boxed)
    card = json.loads((boxed / "model.json").read_text())
    card["input_crop"] = {"kind": "host_box", "size_mm": [108.0, 216.0]}
    (boxed / "model.json").write_text(json.dumps(card))
    res = segment(boxed, tmp_path / "no_such_ct.nii.gz", tmp_path / "out")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "108 x 216 mm box around the host organ" in res.stderr and "--host-mask" in res.stderr
    assert not (tmp_path / "out").exists()


def test_coin_segment_refuses_a_missing_host_mask_and_a_ct_given_as_host_mask(
    tmp_path, model_dir, kidney_phantom
):
    from test_segment_cmd import segment

    from coin_core.io import write_volume

    image, _, _ = kidney_phantom
    ct = tmp_path / "ct.nii.gz"
    write_volume(image, ct)
    missing = segment(model_dir, ct, tmp_path / "out", "--host-mask", str(tmp_path / "nope.nii.gz"))
    assert missing.returncode == 2 and "--host-mask" in missing.stderr and "does not exist" in missing.stderr
    wrong = segment(model_dir, ct, tmp_path / "out", "--host-mask", str(ct))  # the CT, not its label map
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "not a label map" in wrong.stderr and "not the CT" in wrong.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
