"""The optional FID Inception path: structure, weight loading from safetensors, TF1 resize.

The real FID weights are not available here, so the features are not compared with torchmetrics;
these tests check shapes, key names, loading and the resize arithmetic.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from coin_core.errors import CoinError
from coin_core.evaluation.inception import FEATURE_DIM, InceptionFeatures, load_inception, resize_like_tf1


def test_tf1_resize_uses_the_asymmetric_mapping_without_half_pixel_offsets():
    x = torch.tensor([[[[0.0, 1.0]]]])
    out = resize_like_tf1(x.expand(1, 1, 2, 2).contiguous(), 4)
    # source positions 0, 0.5, 1, 1.5 -> clamped at the last pixel
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.0]))


def test_weights_round_trip_through_safetensors_and_give_768_features(tmp_path):
    torch.manual_seed(0)
    net = InceptionFeatures().eval()
    path = tmp_path / "inception.safetensors"
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state["fc.weight"] = torch.zeros(3, 3)  # extra keys of the full network are ignored
    save_file(state, str(path))
    loaded = load_inception(path)
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    with torch.no_grad():
        feats = loaded(torch.rand(1, 1, 40, 40))
    assert feats.shape == (1, FEATURE_DIM) and torch.isfinite(feats).all()


def test_a_file_without_inception_keys_is_refused_with_a_count(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(CoinError, match="keys missing"):
        load_inception(path)
    with pytest.raises(CoinError, match="not found"):
        load_inception(tmp_path / "absent.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CoinError, match="safetensors"):
        load_inception(bad)
