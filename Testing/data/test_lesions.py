"""The Gaussian-blob lesion generator follows the paper's protocol (docs/method.md §3.5) and is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.data.lesions import (
    LesionParams,
    draw_lesion,
    gaussian_template,
    lesion_seed,
    warp_template,
)
from coin_core.errors import CoinError

# rescale s ~ U[0.75, 1] of the 120 px template mask: 120 * 0.75² ≈ 68 px .. 120 px (docs/method.md §3.5)
PAPER_AREA = (68, 120)


def _slice_with_kidneys(shape=(200, 220)):
    """A flat slice (-0.2) with two elliptic 'kidneys' of different size and one small blob."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    left = ((yy - 100) / 40) ** 2 + ((xx - 60) / 28) ** 2 <= 1
    right = ((yy - 100) / 34) ** 2 + ((xx - 160) / 24) ** 2 <= 1
    speck = ((yy - 20) / 4) ** 2 + ((xx - 110) / 4) ** 2 <= 1
    image = np.full(shape, -0.2, np.float32)
    return image, left | right | speck, left, right


def test_template_matches_the_papers_numbers():
    t = gaussian_template((20, 20), 0.4)
    assert t.max() == pytest.approx(0.983, abs=1e-3)  # even grid: the peak is off-centre
    assert t[0, 0] == pytest.approx(0.002, abs=5e-4)
    assert int((t > 0.25).sum()) == 120


def test_rescale_alone_gives_the_papers_area_range():
    t = gaussian_template((20, 20), 0.4)
    params = LesionParams(distort_p=0.0, rotate_p=0.0)
    areas = [int(warp_template(t, 0.25, params, np.random.default_rng(s))[1].sum()) for s in range(300)]
    assert PAPER_AREA[0] <= min(areas) and max(areas) <= PAPER_AREA[1]
    assert min(areas) < 75 and max(areas) > 113  # both ends of U[0.75, 1] are reached


def test_full_warp_stays_within_the_stretch_bounds():
    # stretch 1/(1+δ), δ in [-0.2, 0.2] per axis: area x [1/1.44, 1/0.64]; nearest sampling ±10 %
    t = gaussian_template((20, 20), 0.4)
    params = LesionParams()
    areas = np.array([warp_template(t, 0.25, params, np.random.default_rng(s))[1].sum() for s in range(300)])
    assert areas.min() >= 0.9 * PAPER_AREA[0] / 1.44
    assert areas.max() <= PAPER_AREA[1] / 0.64
    assert (areas < PAPER_AREA[0]).any() and (areas > PAPER_AREA[1]).any()  # the stretch does act


def test_insertion_rate_and_placement_over_400_draws():
    image, host, left, right = _slice_with_kidneys()
    params = LesionParams()
    n, inserted, areas = 400, 0, []
    for i in range(n):
        d = draw_lesion(image, host, params, lesion_seed("case", i, 0))
        if d.inserted:
            inserted += 1
            areas.append(int(d.mask.sum()))
            r, c = d.center
            assert left[r, c] or right[r, c], "centre must lie in one of the two largest components"
            assert d.mask[r - 3 : r + 4, c - 3 : c + 4].any()  # the mask sits on the centre
        else:
            assert d.reason == "p" and not d.mask.any()
            np.testing.assert_array_equal(d.image, image)
    # binomial sd at p=0.65, n=400 is 0.024; 3.5 sd
    assert abs(inserted / n - 0.65) < 0.085
    assert 0.9 * PAPER_AREA[0] / 1.44 <= min(areas) and max(areas) <= PAPER_AREA[1] / 0.64
    assert PAPER_AREA[0] <= np.median(areas) <= PAPER_AREA[1]


def test_both_large_components_are_used_and_the_speck_never():
    image, host, left, right = _slice_with_kidneys()
    centres = [
        draw_lesion(image, host, LesionParams(p=1.0), lesion_seed("c", i, 0)).center for i in range(60)
    ]
    assert all(c is not None for c in centres)
    assert any(left[c] for c in centres) and any(right[c] for c in centres)


def test_same_seed_same_lesion_and_different_seeds_differ():
    image, host, _, _ = _slice_with_kidneys()
    params = LesionParams(p=1.0)
    a = draw_lesion(image, host, params, 1234)
    b = draw_lesion(image.copy(), host.copy(), params, 1234)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    masks = {draw_lesion(image, host, params, s).mask.tobytes() for s in range(20)}
    assert len(masks) == 20


def test_lesion_seed_is_a_stable_hash():
    assert lesion_seed("case", 3, 1, 0) == 822790557281797138  # SHA-256, not Python's salted hash()
    seeds = {lesion_seed(c, k, d) for c in ("a", "b") for k in range(5) for d in range(3)}
    assert len(seeds) == 30
    assert lesion_seed("a", 0, 0, base_seed=1) != lesion_seed("a", 0, 0, base_seed=0)


def test_hyperdense_brightens_and_hypodense_darkens_only_near_the_lesion():
    image, host, _, _ = _slice_with_kidneys()
    for alpha, sign in ((0.9, 1), (-0.9, -1)):
        d = draw_lesion(image, host, LesionParams(p=1.0, alpha=alpha), 7)
        diff = d.image - image
        m = d.mask.astype(bool)
        assert d.inserted and np.all(sign * diff[m] > 0.4)  # mask = T > 0.25: at least 2*0.9*0.25
        assert d.image.min() >= -1.0 and d.image.max() <= 1.0
        r, c = d.center
        far = np.ones_like(m)
        far[r - 12 : r + 12, c - 12 : c + 12] = False
        assert not diff[far].any()  # only the 20 px window around the centre changes


def test_size_in_mm_scales_with_the_pixel_spacing():
    image, host, _, _ = _slice_with_kidneys()
    params = LesionParams(size_mm=14.0, p=1.0, distort_p=0.0, rotate_p=0.0, scale_range=(1.0, 1.0))
    assert params.template_shape((0.7, 0.7)) == (20, 20)
    assert params.template_shape((1.4, 0.7)) == (20, 10)  # (rows, cols): circle in mm, ellipse in px
    fine = draw_lesion(image, host, params, 3, spacing=(0.7, 0.7)).mask.sum()
    coarse = draw_lesion(image, host, params, 3, spacing=(1.4, 1.4)).mask.sum()
    assert fine == 120
    assert 0.2 < coarse / fine < 0.3  # half the pixels per mm -> a quarter of the area
    with pytest.raises(CoinError, match="spacing"):
        draw_lesion(image, host, params, 3)


def test_aborts_give_label_zero_and_leave_the_slice_alone():
    image, _, _, _ = _slice_with_kidneys()
    tiny = np.zeros(image.shape, bool)
    tiny[50:60, 50:60] = True  # 100 px box <= 400 px template area
    d = draw_lesion(image, tiny, LesionParams(p=1.0), 1)
    assert (d.inserted, d.reason) == (False, "host too small")
    d = draw_lesion(image, np.zeros(image.shape, bool), LesionParams(p=1.0), 1)
    assert (d.inserted, d.reason) == (False, "no host")
    edge = np.zeros(image.shape, bool)
    edge[:40, :40] = True  # centres near the corner: the blob would leave the image
    reasons = {draw_lesion(image, edge, LesionParams(p=1.0), s).reason for s in range(40)}
    assert "outside image" in reasons
    np.testing.assert_array_equal(draw_lesion(image, edge, LesionParams(p=0.0), 1).image, image)


def test_bad_inputs_raise_coin_errors():
    with pytest.raises(CoinError, match="alpha"):
        LesionParams(alpha=0.0)
    with pytest.raises(CoinError, match="p has"):
        LesionParams(p=1.5)
    with pytest.raises(CoinError, match="same shape"):
        draw_lesion(np.zeros((10, 10)), np.zeros((10, 11), bool), LesionParams(), 0)
    with pytest.raises(CoinError, match="Unknown lesion parameters"):
        LesionParams.from_dict({"sizee": 3})
    p = LesionParams(size_mm=10.0, host_labels=(1, 4))
    assert LesionParams.from_dict(p.to_dict()) == p
