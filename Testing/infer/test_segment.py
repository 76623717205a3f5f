"""segment_volume: geometry, screening, counterfactual HU rule, precision, progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import WINDOW, reorient

from coin_core.errors import CoinCancelled, CoinError
from coin_core.infer import segment_volume, threshold_difference
from coin_core.io import Volume, from_canonical, to_canonical


def _same_geometry(a: Volume, b: Volume) -> None:
    assert a.array.shape == b.array.shape
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.origin, b.origin, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.direction, b.direction, rtol=0, atol=1e-12)


def test_oracle_lesion_is_found_on_the_input_grid(phantom, oracle_model):
    image, lesion = phantom
    r = segment_volume(image, oracle_model, threshold=0.1, precision="fp32")
    for out in (r.counterfactual, r.difference, r.mask):
        _same_geometry(out, image)
    found, truth = r.mask.array.astype(bool), lesion.array.astype(bool)
    dice = 2 * (found & truth).sum() / (found.sum() + truth.sum())
    assert dice > 0.9
    # screening: only slices holding the bright lesion got a counterfactual
    has_lesion = truth.reshape(truth.shape[0], -1).any(axis=1)
    assert np.array_equal(r.counterfactual_made, has_lesion)
    assert np.all(r.probability_after[has_lesion] == 0) and np.all(r.probability_before[has_lesion] == 1)


def test_oblique_permuted_flipped_input_gives_outputs_on_its_own_grid(phantom, oracle_model):
    image, lesion = phantom
    moved, moved_lesion = reorient(image), reorient(lesion)
    assert moved.array.shape != image.array.shape  # the test means something
    r = segment_volume(moved, oracle_model, threshold=0.1, screening=None, precision="fp32")
    for out in (r.counterfactual, r.difference, r.mask):
        _same_geometry(out, moved)
    found, truth = r.mask.array.astype(bool), moved_lesion.array.astype(bool)
    assert 2 * (found & truth).sum() / (found.sum() + truth.sum()) > 0.9
    # the same physical answer as for the axis-aligned original
    direct = segment_volume(image, oracle_model, threshold=0.1, screening=None, precision="fp32")
    assert np.array_equal(to_canonical(r.mask).array, to_canonical(direct.mask).array)


def test_counterfactual_keeps_input_hu_outside_the_window_and_where_unchanged(phantom, oracle_model):
    image, lesion = phantom
    r = segment_volume(image, oracle_model, threshold=0.1, precision="fp32")
    cf, hu = r.counterfactual.array, image.array
    outside = (hu < WINDOW[0]) | (hu > WINDOW[1])
    assert outside.any()
    assert np.array_equal(cf[outside], hu[outside])
    untouched = ~r.counterfactual_made
    assert np.array_equal(cf[untouched], hu[untouched])
    # the lesion (300 HU) became kidney-like (150 HU) in the counterfactual
    core = lesion.array.astype(bool)
    assert abs(float(np.median(cf[core])) - 150.0) < 30.0
    assert r.counterfactual.array.dtype == image.array.dtype


def test_integer_input_keeps_its_dtype(phantom, oracle_model):
    image, _ = phantom
    as_int = image.with_array(np.rint(image.array).astype(np.int16))
    r = segment_volume(as_int, oracle_model, threshold=0.1, precision="fp32")
    assert r.counterfactual.array.dtype == np.int16
    assert r.difference.array.dtype == np.float32 and r.mask.array.dtype == np.uint8


def test_rethresholding_the_difference_reproduces_the_mask(phantom, oracle_model):
    image, _ = phantom
    r = segment_volume(image, oracle_model, threshold=0.1, postprocess="3d", precision="fp32")
    again = threshold_difference(r.difference, 0.1, "3d")
    assert np.array_equal(again.array, r.mask.array)


def test_difference_is_in_unit_range_and_all_slices_get_counterfactuals(phantom, tiny_model):
    image, _ = phantom
    r = segment_volume(image, tiny_model, screening=None, batch_size=5)
    assert r.counterfactual_made.all()
    assert r.difference.array.min() >= 0 and r.difference.array.max() <= 1
    assert len(r.probability_before) == image.array.shape[0]
    assert np.all((r.probability_before >= 0) & (r.probability_before <= 1))
    assert r.info["slices"] == image.array.shape[0]


def test_bf16_stays_close_to_fp32(phantom, tiny_model):
    image, _ = phantom
    a = segment_volume(image, tiny_model, screening=None, precision="fp32")
    b = segment_volume(image, tiny_model, screening=None, precision="bf16")
    assert b.info["precision"] == "bf16"
    import torch

    assert all(
        p.dtype == torch.float32 for p in tiny_model.generator.parameters()
    )  # caller's model untouched
    err = np.abs(a.difference.array - b.difference.array)
    assert float(err.max()) < 0.05 and float(err.mean()) < 0.005


def test_progress_reports_each_batch_with_an_eta(phantom, tiny_model):
    image, _ = phantom
    events = []
    segment_volume(image, tiny_model, screening=None, batch_size=5, progress=events.append)
    seg = [e for e in events if e.stage == "segment"]
    assert [e.done for e in seg] == [0, 5, 10, 12]
    assert all(e.total == 12 for e in seg)
    assert seg[1].metrics["eta_s"] is not None and seg[-1].metrics["eta_s"] == 0


def test_cancel_stops_within_one_batch(phantom, tiny_model):
    image, _ = phantom
    events = []
    with pytest.raises(CoinCancelled):
        segment_volume(
            image,
            tiny_model,
            screening=None,
            batch_size=2,
            progress=events.append,
            should_stop=lambda: any(e.done > 0 for e in events),
        )
    assert [e.done for e in events] == [0, 2]  # the start event, then one batch


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "Batch size"),
        ({"screening": 1.5}, "Screening"),
        ({"postprocess": "median"}, "post-processing"),
        ({"threshold": -0.1}, "Threshold"),
        ({"precision": "int8"}, "precision"),
    ],
)
def test_bad_options_raise_coin_errors(phantom, tiny_model, kwargs, match):
    image, _ = phantom
    with pytest.raises(CoinError, match=match):
        segment_volume(image, tiny_model, **kwargs)


def test_a_thin_non_axial_image_is_refused(tiny_model):
    vol = Volume(
        np.zeros((20, 3, 40), np.float32), spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3).ravel()
    )
    with pytest.raises(CoinError, match="axial"):
        segment_volume(vol, tiny_model)


def test_from_canonical_round_trip_used_by_outputs(phantom):
    """Guards the contract segment_volume relies on: from_canonical inverts to_canonical exactly."""
    image, _ = phantom
    moved = reorient(image)
    assert np.array_equal(from_canonical(to_canonical(moved).array, moved), moved.array)


def test_canonical_views_match_to_canonical_without_copying(phantom):
    from coin_core.infer.views import axial_geometry, canonical_view

    for vol in (
        phantom[0],
        reorient(phantom[0]),
        reorient(phantom[0], order=(1, 2, 0), flips=(False, True, True)),
    ):
        canon = to_canonical(vol)
        view = canonical_view(vol.array, vol.direction)
        assert np.shares_memory(view, vol.array)
        assert np.array_equal(view, canon.array)
        z, pixel_mm = axial_geometry(vol)
        k = np.arange(canon.array.shape[0])
        np.testing.assert_allclose(z, canon.origin[2] + canon.direction[8] * canon.spacing[2] * k, atol=1e-9)
        assert pixel_mm == (canon.spacing[1], canon.spacing[0])


def test_default_batch_is_small_on_cpu_for_paper_size_models_only():
    from coin_core.infer.segment import default_batch_size

    assert default_batch_size("cpu", 256) == 2
    assert default_batch_size("cpu", 128) == 8
