"""Synthetic lesions: the paper's Gaussian-blob protocol (docs/method.md §3.5), seeded per sample.

A lesion is a 2D Gaussian bump pasted on a window-normalised axial slice at native resolution,
before any resizing (docs/method.md §11.5):

1. template ``T = exp(-d²/(2σ²))`` on a ``size × size`` grid over [-1, 1]², mask ``M = T > 0.25``;
2. warp (same for T and M, T bilinear, M nearest): isotropic rescale ``s ~ U[0.75, 1]``; with
   probability 0.5 a per-axis stretch by ``1/(1+δ)``, ``δ ~ U[-0.2, 0.2]``, anchored at the top-left
   corner (what albumentations' ``GridDistortion(num_steps=1)`` does); with probability 0.5 a
   rotation by ``U[-90°, 90°]`` about the canvas centre; zero fill everywhere;
3. with probability ``p`` an insertion is attempted, otherwise the sample stays normal;
4. the centre is drawn uniformly in the bounding box (shrunk by 5 % per side) of one of the two
   largest host components and accepted only inside that component (holes filled); the insertion
   is abandoned (label 0) when the box is no larger than the template, when no centre is accepted
   within ``max_tries`` candidates, or when the blob would leave the image;
5. intensity: in [0, 1] window units ``x ← clip(x + α·T, 0, 1)``; a negative ``α`` gives the
   hypodense variant. The mask ``M`` is written where the blob lands (it may spill out of the organ).

All randomness comes from ``numpy.random.default_rng(seed)``; :func:`lesion_seed` derives the seed
from (case id, slice index, draw) with SHA-256, so a sample is the same on every machine and run.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from coin_core.errors import CoinError


@dataclass(frozen=True)
class LesionParams:
    """Parameters of the Gaussian-blob generator (defaults: the paper's TSM benchmark).

    Attributes:
        size: template side in native pixels (paper: 20). Ignored when ``size_mm`` is set.
        size_mm: template side in millimetres; converted with the slice's pixel spacing.
        sigma: Gaussian width in template units (the template spans [-1, 1]).
        mask_thresh: ground-truth mask threshold on the template (``M = T > mask_thresh``).
        alpha: added intensity in [0, 1] window units; negative for a hypodense lesion.
        p: probability that an insertion is attempted.
        scale_range: range of the isotropic rescale factor.
        distort_limit: per-axis stretch ``δ`` range is ``[-distort_limit, distort_limit]``.
        distort_p: probability of the per-axis stretch.
        rotate_limit: rotation range in degrees, ``[-rotate_limit, rotate_limit]``.
        rotate_p: probability of the rotation.
        max_tries: centre candidates drawn before the insertion is abandoned.
        host: name of the host organ (for reports).
        host_labels: label ids of the host organ in the label map.
    """

    size: int = 20
    size_mm: float | None = None
    sigma: float = 0.4
    mask_thresh: float = 0.25
    alpha: float = 0.9
    p: float = 0.65
    scale_range: tuple[float, float] = (0.75, 1.0)
    distort_limit: float = 0.2
    distort_p: float = 0.5
    rotate_limit: float = 90.0
    rotate_p: float = 0.5
    max_tries: int = 1000
    host: str = "kidney"
    host_labels: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        checks = [
            ("size", self.size >= 3, self.size),
            ("size_mm", self.size_mm is None or self.size_mm > 0, self.size_mm),
            ("sigma", self.sigma > 0, self.sigma),
            ("mask_thresh", 0 < self.mask_thresh < 1, self.mask_thresh),
            ("alpha", -1 <= self.alpha <= 1 and self.alpha != 0, self.alpha),
            ("p", 0 <= self.p <= 1, self.p),
            ("scale_range", 0 < self.scale_range[0] <= self.scale_range[1], self.scale_range),
            ("distort_limit", 0 <= self.distort_limit < 1, self.distort_limit),
            ("max_tries", self.max_tries >= 1, self.max_tries),
        ]
        for name, ok, value in checks:
            if not ok:
                raise CoinError(
                    f"Lesion parameter {name} has an invalid value: {value!r}.",
                    "see LesionParams in coin_core/data/lesions.py for the allowed ranges "
                    "(alpha in [-1, 1] and non-zero, p in [0, 1], size >= 3 px).",
                )

    def template_shape(self, spacing: tuple[float, float] | None = None) -> tuple[int, int]:
        """Template (rows, cols) in native pixels.

        Args:
            spacing: in-plane pixel spacing (column spacing, row spacing) in mm; required when
                ``size_mm`` is set. With anisotropic pixels the template is an ellipse in pixels
                and a circle in millimetres.
        """
        if self.size_mm is None:
            return (self.size, self.size)
        if spacing is None:
            raise CoinError(
                f"Lesion size is given in millimetres (size_mm={self.size_mm}) "
                "but no pixel spacing was given.",
                "pass spacing=(column mm, row mm) to draw_lesion, or give the size in pixels.",
            )
        sx, sy = float(spacing[0]), float(spacing[1])
        return (max(3, round(self.size_mm / sy)), max(3, round(self.size_mm / sx)))

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["scale_range"] = list(self.scale_range)
        d["host_labels"] = list(self.host_labels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LesionParams:
        """Inverse of :meth:`to_dict`; unknown keys raise a :class:`CoinError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CoinError(f"Unknown lesion parameters: {unknown}.", f"allowed keys: {sorted(known)}.")
        d = dict(d)
        if "scale_range" in d:
            d["scale_range"] = tuple(float(v) for v in d["scale_range"])
        if "host_labels" in d:
            d["host_labels"] = tuple(int(v) for v in d["host_labels"])
        return cls(**d)


@dataclass
class LesionDraw:
    """Result of one draw.

    Attributes:
        image: the slice after insertion, float32 in [-1, 1] (a copy; unchanged when not inserted).
        mask: uint8 ground-truth lesion mask, same shape as the slice.
        inserted: True when a lesion was pasted (the sample's label is 1).
        center: (row, col) of the blob centre, or None.
        reason: why nothing was inserted ("" when inserted; "p" when the coin said no).
    """

    image: np.ndarray
    mask: np.ndarray
    inserted: bool
    center: tuple[int, int] | None
    reason: str


def lesion_seed(case_id: str, slice_index: int, draw: int, base_seed: int = 0) -> int:
    """A stable 63-bit seed for one sample, the same on every machine and Python run."""
    key = f"coin-lesion|{base_seed}|{case_id}|{int(slice_index)}|{int(draw)}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def gaussian_template(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """``exp(-d²/(2σ²))`` on a grid of ``shape`` spanning [-1, 1] on each axis (float64)."""
    v = np.linspace(-1.0, 1.0, shape[0])[:, None]
    u = np.linspace(-1.0, 1.0, shape[1])[None, :]
    return np.exp(-(u**2 + v**2) / (2.0 * sigma**2))


def warp_template(
    template: np.ndarray, mask_thresh: float, params: LesionParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the random rescale / stretch / rotation to a template and its mask.

    The three steps are composed into one inverse coordinate map, so the template is
    interpolated once (bilinear) and the mask sampled once (nearest).

    Returns:
        (warped template float64, warped mask bool), both of the rescaled canvas size.
    """
    from scipy.ndimage import map_coordinates

    n_r, n_c = template.shape
    s = rng.uniform(*params.scale_range)
    m_r, m_c = max(1, round(n_r * s)), max(1, round(n_c * s))
    distort = rng.random() < params.distort_p
    d_r, d_c = rng.uniform(-params.distort_limit, params.distort_limit, size=2)
    rotate = rng.random() < params.rotate_p
    angle = math.radians(rng.uniform(-params.rotate_limit, params.rotate_limit))

    rr, cc = np.meshgrid(np.arange(m_r, dtype=float), np.arange(m_c, dtype=float), indexing="ij")
    valid = np.ones(rr.shape, dtype=bool)
    if rotate:  # inverse rotation about the canvas centre
        cr, cc0 = (m_r - 1) / 2.0, (m_c - 1) / 2.0
        y, x = rr - cr, cc - cc0
        cos, sin = math.cos(angle), math.sin(angle)
        rr, cc = cos * y - sin * x + cr, sin * y + cos * x + cc0
        valid &= (rr > -0.5) & (rr < m_r - 0.5) & (cc > -0.5) & (cc < m_c - 0.5)
    if distort:  # GridDistortion(num_steps=1): out[x] = in[x * m(1+δ)/(m-1)]
        rr = rr * (m_r * (1 + d_r) / max(m_r - 1, 1))
        cc = cc * (m_c * (1 + d_c) / max(m_c - 1, 1))
        valid &= (rr < m_r - 0.5) & (cc < m_c - 0.5)
    # rescale canvas -> template (half-pixel centres, as cv2.resize)
    rr = (rr + 0.5) * (n_r / m_r) - 0.5
    cc = (cc + 0.5) * (n_c / m_c) - 0.5
    coords = np.stack([rr, cc])
    warped = map_coordinates(template, coords, order=1, mode="constant", cval=0.0)
    mask = map_coordinates((template > mask_thresh).astype(np.float64), coords, order=0, cval=0.0)
    return np.where(valid, warped, 0.0), (mask > 0.5) & valid


def _host_components(host_mask: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Filled connected components (8-connected), largest first, with bounding boxes (r0, r1, c0, c1)."""
    from scipy import ndimage

    labels, n = ndimage.label(host_mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    areas = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    order = np.argsort(-areas, kind="stable")[:2]
    boxes = ndimage.find_objects(labels)
    out = []
    for idx in order:
        sl = boxes[idx]
        comp = ndimage.binary_fill_holes(labels[sl] == idx + 1)
        box = (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
        out.append((comp, box))
    return out


def draw_lesion(
    slice_norm: np.ndarray,
    host_mask: np.ndarray,
    params: LesionParams,
    seed: int,
    spacing: tuple[float, float] | None = None,
) -> LesionDraw:
    """Draw one seeded synthetic lesion and paste it on a native-resolution slice.

    Args:
        slice_norm: 2D slice, window-normalised to [-1, 1], native resolution.
        host_mask: 2D boolean mask of the host organ, same shape.
        params: generator parameters.
        seed: e.g. ``lesion_seed(case_id, slice_index, draw)``; the same seed gives the same lesion.
        spacing: in-plane (column, row) pixel spacing in mm; needed when ``params.size_mm`` is set.

    Returns:
        A :class:`LesionDraw`; ``inserted`` is the sample's label.
    """
    slice_norm = np.asarray(slice_norm)
    host_mask = np.asarray(host_mask).astype(bool)
    if slice_norm.ndim != 2 or slice_norm.shape != host_mask.shape:
        raise CoinError(
            f"draw_lesion needs a 2D slice and a host mask of the same shape; got {slice_norm.shape} "
            f"and {host_mask.shape}.",
            "pass one axial slice (rows, cols) and its host-organ mask.",
        )
    image = slice_norm.astype(np.float32, copy=True)
    mask = np.zeros(image.shape, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    shape = params.template_shape(spacing)

    def none(reason: str) -> LesionDraw:
        return LesionDraw(image, mask, False, None, reason)

    if rng.random() >= params.p:
        return none("p")
    template, tmask = warp_template(gaussian_template(shape, params.sigma), params.mask_thresh, params, rng)
    comps = _host_components(host_mask)
    if not comps:
        return none("no host")
    comp, (r0, r1, c0, c1) = comps[int(rng.integers(len(comps)))]
    h, w = r1 - r0, c1 - c0
    if h * w <= shape[0] * shape[1]:
        return none("host too small")
    # shrink the box by 5 % per side, draw integer candidates, keep the first inside the component
    lo_r, hi_r = r0 + int(0.05 * h), r1 - int(0.05 * h)
    lo_c, hi_c = c0 + int(0.05 * w), c1 - int(0.05 * w)
    cand_r = rng.integers(lo_r, max(hi_r, lo_r + 1), size=params.max_tries)
    cand_c = rng.integers(lo_c, max(hi_c, lo_c + 1), size=params.max_tries)
    inside = comp[cand_r - r0, cand_c - c0]
    if not inside.any():
        return none("no centre")
    first = int(np.argmax(inside))
    cy, cx = int(cand_r[first]), int(cand_c[first])
    if not tmask.any():  # the warp pushed the whole mask out of its canvas
        return none("empty mask")
    m_r, m_c = template.shape
    top, left = cy - m_r // 2, cx - m_c // 2
    if top < 0 or left < 0 or top + m_r > image.shape[0] or left + m_c > image.shape[1]:
        return none("outside image")
    win = (slice(top, top + m_r), slice(left, left + m_c))
    x01 = (image[win] + 1.0) / 2.0
    image[win] = np.clip(x01 + params.alpha * template, 0.0, 1.0) * 2.0 - 1.0
    mask[win] = np.maximum(mask[win], tmask.astype(np.uint8))
    return LesionDraw(image, mask, True, (cy, cx), "")
