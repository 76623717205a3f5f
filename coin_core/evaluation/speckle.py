"""Speckle: how much a method's map marks healthy body tissue (docs/benchmarks.md, "The table").

The speckle figure of a method is the 99th percentile of its map over *healthy body pixels*: inside
the body, outside the lesion mask dilated by :data:`LESION_MARGIN_PX` pixels. It is computed on the
normal and on the abnormal samples of the scored split separately and compared with half the
method's tuned threshold: a map whose healthy tissue stays below half the threshold leaves healthy
tissue alone with a margin; one above it marks speckle as soon as the threshold moves a little.

Maps are in [0, 1] as everywhere in evaluation (``|x - x_cf| / 2`` for counterfactual methods, the
per-image min-max map for attributions). The body mask comes from the slice itself, since prepared
slice sets store no body mask and only windowed intensities (so :func:`coin_core.data.hosts.body_mask`,
which thresholds HU, does not apply): pixels above the intensity window's lower edge, closed by
:data:`BODY_CLOSING_ITERATIONS` 3 x 3 steps, the largest connected region, and its convex hull. In
a soft-tissue window fat and air are both at the lower edge, so the hull (not hole filling) is what
brings the abdominal fat back inside; a thin rim of subcutaneous fat far from the largest region may
stay outside.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coin_core.errors import CoinError

#: healthy pixels are farther than this from the lesion mask (Euclidean, in model-input pixels)
LESION_MARGIN_PX = 3
#: the percentile that is reported
PERCENTILE = 99.0
#: body = tissue above the window's lower edge (images in [-1, 1]; -1 is the lower edge)
BODY_LEVEL = -0.98
BODY_CLOSING_ITERATIONS = 2
#: histogram resolution of the streaming percentile on [0, 1]
_BINS = 10000


def body_mask(image: np.ndarray) -> np.ndarray:
    """The body of every slice ``(N, S, S)`` (or ``(S, S)``) in [-1, 1]: a boolean mask of that shape."""
    from scipy import ndimage as ndi
    from skimage.morphology import convex_hull_image

    img = np.asarray(image, np.float32)
    one = img.ndim == 2
    stack = img[None] if one else img
    if stack.ndim != 3:
        raise CoinError(f"Slices must have shape (N, S, S) or (S, S); got {img.shape}.")
    out = np.zeros(stack.shape, bool)
    pad = BODY_CLOSING_ITERATIONS
    for i, sl in enumerate(stack):
        # padded, so that the closing's erosion does not eat tissue at the slice border
        tissue = ndi.binary_closing(
            np.pad(sl > BODY_LEVEL, pad), structure=np.ones((3, 3), bool), iterations=BODY_CLOSING_ITERATIONS
        )[pad:-pad, pad:-pad]
        lab, n = ndi.label(tissue)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        out[i] = convex_hull_image(lab == int(sizes.argmax()))
    return out[0] if one else out


def healthy_body(image: np.ndarray, lesion: np.ndarray, margin: int = LESION_MARGIN_PX) -> np.ndarray:
    """Body pixels farther than ``margin`` pixels from the lesion mask; shapes ``(N, S, S)``."""
    from scipy import ndimage as ndi

    les = np.asarray(lesion) != 0
    body = body_mask(image)
    if les.shape != body.shape:
        raise CoinError(f"Lesion masks {les.shape} and slices {body.shape} differ in shape.")
    stack = les if les.ndim == 3 else les[None]
    near = np.zeros(stack.shape, bool)
    for i, m in enumerate(stack):
        if m.any():
            near[i] = ndi.distance_transform_edt(~m) <= margin
    return body & ~(near if les.ndim == 3 else near[0])


class PercentileHistogram:
    """Streaming percentile of values in [0, 1] (a fixed 10,000-bin histogram; exact to 1e-4)."""

    def __init__(self) -> None:
        self.counts = np.zeros(_BINS, np.int64)

    def update(self, values: Any) -> None:
        v = np.clip(np.asarray(values, np.float64).reshape(-1), 0.0, 1.0)
        idx = np.minimum((v * _BINS).astype(np.int64), _BINS - 1)
        self.counts += np.bincount(idx, minlength=_BINS)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (upper bin edge), None when nothing was added."""
        total = self.n
        if total == 0:
            return None
        k = int(np.searchsorted(np.cumsum(self.counts), q / 100.0 * total, side="left"))
        return float(min(k + 1, _BINS)) / _BINS


class Speckle:
    """Accumulate healthy-body map values of normal and abnormal samples; report their 99th percentiles."""

    def __init__(self) -> None:
        self.normal, self.abnormal = PercentileHistogram(), PercentileHistogram()
        self.n_normal = self.n_abnormal = 0

    def update(self, maps: np.ndarray, image: np.ndarray, lesion: np.ndarray, label: np.ndarray) -> None:
        """Add maps ``(N, S, S)`` in [0, 1] with their slices, lesion masks and labels ``(N,)``."""
        m = np.asarray(maps, np.float32)
        healthy = healthy_body(image, lesion)
        if m.shape != healthy.shape:
            raise CoinError(f"Maps {m.shape} and slices {healthy.shape} differ in shape.")
        lab = np.asarray(label).reshape(-1)
        for i in range(m.shape[0]):
            values = m[i][healthy[i]]
            if lab[i] == 1:
                self.abnormal.update(values)
                self.n_abnormal += 1
            else:
                self.normal.update(values)
                self.n_normal += 1

    def result(self, threshold: float | None) -> dict[str, Any]:
        """``{"normal_p99", "abnormal_p99", "half_threshold", "pass", "n_normal", "n_abnormal", ...}``.

        ``pass`` is True when both percentiles (those that exist) lie below half the threshold.
        """
        normal = self.normal.percentile(PERCENTILE)
        abnormal = self.abnormal.percentile(PERCENTILE)
        half = None if threshold is None else float(threshold) / 2.0
        values = [v for v in (normal, abnormal) if v is not None]
        ok = None if half is None or not values else all(v < half for v in values)
        return {
            "normal_p99": normal,
            "abnormal_p99": abnormal,
            "half_threshold": half,
            "pass": ok,
            "n_normal": self.n_normal,
            "n_abnormal": self.n_abnormal,
            "healthy_pixels_normal": self.normal.n,
            "healthy_pixels_abnormal": self.abnormal.n,
        }
