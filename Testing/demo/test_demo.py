"""The main job's pieces: pasting the fixed test lesions into a volume, the host-slice filter, scoring."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.data.benchmark import read_benchmark_json
from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
from coin_core.data.lesions import LesionParams
from coin_core.data.phantom import write_phantom_dataset
from coin_core.demo import paste_test_lesions, score
from coin_core.errors import CoinError
from coin_core.infer.segment import host_slice_filter
from coin_core.io import read_volume, to_canonical


@pytest.fixture(scope="module")
def a_phantom_benchmark(tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("demo")
    write_phantom_dataset(root / "raw", n_cases=1, shape=(20, 96, 96))
    cfg = BenchmarkConfig(
        size=64,
        lesion=LesionParams(size=10, p=1.0),
        draws={"train": 1, "val": 1, "test": 2},
        min_host_pixels=8,
    )
    build_benchmark(root / "raw", root / "bench", cfg)
    return read_benchmark_json(root / "bench")


def test_pasted_lesions_brighten_the_ct_exactly_where_the_truth_mask_is(a_phantom_benchmark):
    meta = a_phantom_benchmark
    ct, truth, pasted = paste_test_lesions(meta)
    original = read_volume(meta["cases"][0]["image"])
    assert ct.array.shape == original.array.shape and ct.spacing == original.spacing
    assert ct.direction == original.direction and ct.origin == original.origin
    test_slices = {k for a, b in meta["splits"]["test"]["slice_blocks"] for k in range(a, b + 1)}
    assert pasted and set(pasted) <= test_slices
    t = to_canonical(truth).array.astype(bool)
    diff = to_canonical(ct).array.astype(float) - to_canonical(original).array.astype(float)
    assert sorted(np.flatnonzero(t.any(axis=(1, 2)))) == sorted(pasted)
    assert diff[t].mean() > 20  # hyperdense blob (window units -> HU)
    assert (diff != 0).sum() >= t.sum() * 0.9 and np.all(diff[~t] >= 0)  # soft tails only brighten
    # the same benchmark gives the same lesions
    ct2, truth2, pasted2 = paste_test_lesions(meta)
    assert (
        pasted2 == pasted
        and np.array_equal(ct2.array, ct.array)
        and np.array_equal(truth2.array, truth.array)
    )


def test_the_host_filter_keeps_exactly_the_slices_with_enough_host_pixels(a_phantom_benchmark):
    meta = a_phantom_benchmark
    ct = read_volume(meta["cases"][0]["image"])
    labels = read_volume(meta["cases"][0]["label"])
    keep = host_slice_filter(ct, labels, meta["host_labels"], 8)
    counts = np.isin(to_canonical(labels).array, meta["host_labels"]).sum(axis=(1, 2))
    assert np.array_equal(keep, counts > 8) and keep.any() and not keep.all()
    with pytest.raises(CoinError, match="label map"):
        host_slice_filter(ct, _cropped(labels), [1], 8)


def _cropped(volume):  # noqa: ANN001, ANN202
    from coin_core.io import Volume

    return Volume(volume.array[:-1].copy(), volume.spacing, volume.origin, volume.direction)


def test_scores_count_false_positives_on_other_slices_and_micro_iou_on_lesion_slices():
    truth = np.zeros((3, 8, 8), np.uint8)
    truth[0, 2:4, 2:4] = 1  # 4 voxels on slice 0
    mask = truth.copy()
    mask[0, 2:4, 4] = 1  # +2 false positives on the lesion slice
    mask[2, 0, 0:3] = 1  # 3 false positives on another slice
    s = score(mask, truth, [0])
    assert s.lesion_slices == 1 and s.detected == 1
    assert s.slice_iou == pytest.approx(4 / 6) and s.slice_dice == pytest.approx(8 / 10)
    assert s.false_positive_voxels == 3
    assert s.volume_dice == pytest.approx(2 * 4 / (9 + 4))


def test_segment_volume_makes_no_counterfactual_on_slices_the_filter_excludes(tmp_path):
    from coin_core.data.phantom import make_phantom
    from coin_core.data.window import IntensityWindow
    from coin_core.infer import segment_volume
    from coin_core.modelfile import ModelCard, load_model, save_model
    from coin_core.models import NetworkConfig, build_networks, network_preset

    d = network_preset("small").to_dict()
    d["input_size"] = 32
    cfg = NetworkConfig.from_dict(d, "test")
    nets = build_networks(cfg, seed=0)
    card = ModelCard(method="coin", architecture=cfg, input_size=32, window=IntensityWindow(-100.0, 300.0))
    save_model(tmp_path / "m", card, nets.classifier, nets.encoder, nets.generator)
    model = load_model(tmp_path / "m", device="cpu")
    ct = make_phantom(shape=(6, 48, 48), seed=1)[0]
    keep = np.array([False, True, False, True, False, False])
    res = segment_volume(ct, model, screening=None, slice_filter=keep, device="cpu", precision="fp32")
    assert np.array_equal(res.counterfactual_made, keep)
    assert np.array_equal(res.probability_after[~keep], res.probability_before[~keep])
    with pytest.raises(CoinError, match="slice filter"):
        segment_volume(ct, model, slice_filter=keep[:-1], device="cpu")
