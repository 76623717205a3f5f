"""From a difference map to a lesion mask: threshold, then clean-up.

Three clean-up modes:

* ``"paper"`` (docs/method.md §8.1): for every axial slice, binary opening with a 3x3 ones kernel,
  binary closing with a 3x3 kernel, then only the largest 8-connected component is kept.
* ``"3d"``: the same per-slice opening and closing, then 3D connected components (26-connected)
  across neighbouring slices, and only the largest 3D component is kept. A lesion then stays one
  object through the slices, and isolated specks on far-away slices disappear.
* ``"none"``: the thresholded map as it is.

After the clean-up, an optional **margin** grows the mask in-plane by ``margin_mm`` millimetres (every
pixel whose centre lies within that Euclidean distance of a marked pixel, with the slice's own pixel
size). Thresholding |x - x_cf| marks a lesion's core and misses its soft rim, where the counterfactual
changes the image by less than the threshold; the margin that best restores the rim is tuned on val
together with the threshold (docs/method.md, "Mask margin"). ``0`` (the paper) grows nothing.

The threshold is in [0, 1] units (both images mapped to [0, 1]; the paper's 0.25) and strict:
a voxel is lesion when ``difference > threshold``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from coin_core.errors import CoinError

if TYPE_CHECKING:
    from coin_core.io import Volume

POSTPROCESS_MODES = ("paper", "3d", "none")
"""Every clean-up mode (the CLI, the Slicer panel, the web page and the batch script list these)."""
DEFAULT_POSTPROCESS = "paper"
DEFAULT_MARGIN_MM = 0.0
"""The mask margin when nothing else says: none (the paper). A model card carries its tuned margin."""
MAX_MARGIN_MM = 20.0
DEFAULT_THRESHOLD = 0.25
"""The difference threshold when nothing else says: the paper's 0.25 in [0, 1] units. A model card
(``coin_core.modelfile.ModelCard.threshold``) defaults to it; callers take the card's value."""

_SQUARE = np.ones((3, 3), dtype=bool)
_CUBE = np.ones((3, 3, 3), dtype=bool)


def check_postprocess(mode: str) -> str:
    """Return ``mode`` when it is a known post-processing mode, else raise :class:`CoinError`."""
    if mode not in POSTPROCESS_MODES:
        raise CoinError(
            f"Unknown post-processing mode '{mode}'.",
            f"use one of: {', '.join(POSTPROCESS_MODES)}.",
        )
    return mode


def open_close_slice(mask2d: np.ndarray) -> np.ndarray:
    """Binary opening then closing with a 3x3 ones kernel; pixels outside the slice count as background."""
    from scipy import ndimage

    opened = ndimage.binary_opening(mask2d, structure=_SQUARE)
    # pad so that closing does not erode objects that touch the slice border
    padded = np.pad(opened, 1)
    closed = ndimage.binary_closing(padded, structure=_SQUARE)
    return closed[1:-1, 1:-1]


def largest_component(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Keep only the largest connected component of ``mask`` (any dimension); empty stays empty."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=structure)
    if n <= 1:
        return mask.astype(bool, copy=False)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def clean_slice_paper(mask2d: np.ndarray) -> np.ndarray:
    """The paper's per-slice clean-up: opening 3x3, closing 3x3, largest 8-connected component."""
    return largest_component(open_close_slice(mask2d), _SQUARE)


def check_margin(margin_mm: float) -> float:
    """Return ``margin_mm`` as a float when it is a plausible margin, else raise :class:`CoinError`."""
    try:
        m = float(margin_mm)
    except (TypeError, ValueError):
        m = float("nan")
    if not 0.0 <= m <= MAX_MARGIN_MM:
        shown = repr(margin_mm) if isinstance(margin_mm, str) else f"{m:g}"
        raise CoinError(
            f"Mask margin {shown} mm is outside [0, {MAX_MARGIN_MM:g}] mm.",
            "give the margin in millimetres (0 = none, the paper); the model card holds the tuned one.",
        )
    return m


def pixel_pairs(pixel_mm: Any, n: int) -> np.ndarray:
    """``pixel_mm`` as (n, 2) row/column pixel sizes in mm: one pair for all slices, or one per slice."""
    px = np.asarray(pixel_mm, dtype=np.float64)
    if px.shape == (2,):
        px = np.broadcast_to(px, (n, 2))
    if px.shape != (n, 2) or not np.all(np.isfinite(px)) or not np.all(px > 0):
        raise CoinError(f"Pixel sizes {px.shape} do not fit {n} slices of positive (row, column) mm.")
    return px


def margin_distances(mask: np.ndarray, pixel_mm: Any) -> np.ndarray:
    """Per slice of a (slices, rows, cols) mask: the distance in mm from every pixel centre to the nearest
    marked pixel's centre (``pixel_mm``: one (row, column) pair in mm, or one per slice); inf on empty slices.

    One distance map serves every margin: :func:`within_margin` of it is :func:`grow_mask`'s result.
    """
    from scipy import ndimage

    m = np.asarray(mask).astype(bool, copy=False)
    px = pixel_pairs(pixel_mm, m.shape[0])
    dist = np.full(m.shape, np.inf)
    for k in np.flatnonzero(m.reshape(m.shape[0], -1).any(1)):
        dist[k] = ndimage.distance_transform_edt(~m[k], sampling=tuple(px[k]))
    return dist


def within_margin(distances: np.ndarray, margin_mm: float) -> np.ndarray:
    """The pixels within ``margin_mm`` of the mask, from :func:`margin_distances` (bool)."""
    return distances <= margin_mm + 1e-6  # pixel centres exactly at the margin join


def grow_mask(mask: np.ndarray, margin_mm: float, pixel_mm: Any) -> np.ndarray:
    """Grow every slice of a (slices, rows, cols) mask by ``margin_mm`` in-plane; returns uint8.

    A pixel joins when the Euclidean distance from its centre to the nearest marked pixel's centre,
    measured with ``pixel_mm`` (row, column spacing in mm; one pair, or one pair per slice), is at most
    ``margin_mm``. Empty slices stay empty; ``margin_mm == 0`` returns the mask unchanged.
    """
    m = np.asarray(mask).astype(bool, copy=False)
    if m.ndim != 3:
        raise CoinError(f"A mask of shape {m.shape} was given; (slices, rows, cols) is needed.")
    margin = check_margin(margin_mm)
    if margin == 0.0:
        return m.astype(np.uint8)
    return within_margin(margin_distances(m, pixel_mm), margin).astype(np.uint8)


def postprocess_mask(mask: np.ndarray, mode: str = "paper") -> np.ndarray:
    """Clean a binary mask of shape (slices, rows, cols) in place of axial slices; returns uint8.

    Args:
        mask: boolean or 0/1 array, axis 0 = axial slice.
        mode: "paper", "3d" or "none" (see the module docstring).
    """
    check_postprocess(mode)
    mask = np.asarray(mask).astype(bool, copy=False)
    if mask.ndim != 3:
        raise CoinError(f"A mask of shape {mask.shape} was given; (slices, rows, cols) is needed.")
    out = np.zeros(mask.shape, dtype=np.uint8)
    if mode == "none":
        out[mask] = 1
        return out
    for k in range(mask.shape[0]):
        if not mask[k].any():
            continue
        cleaned = clean_slice_paper(mask[k]) if mode == "paper" else open_close_slice(mask[k])
        out[k] = cleaned
    if mode == "3d" and out.any():
        keep = largest_component(out.astype(bool), _CUBE)
        out = keep.astype(np.uint8)
    return out


def threshold_array(
    difference: np.ndarray,
    threshold: float,
    postprocess: str = "paper",
    margin_mm: float = DEFAULT_MARGIN_MM,
    pixel_mm: Any = None,
) -> np.ndarray:
    """Threshold a (slices, rows, cols) difference array (axis 0 axial), clean it and grow it; uint8.

    ``pixel_mm`` (row, column spacing in mm, or one pair per slice) is needed when ``margin_mm > 0``.
    """
    check_postprocess(postprocess)
    margin = check_margin(margin_mm)
    if margin > 0 and pixel_mm is None:
        raise CoinError("A mask margin needs the pixel size (pixel_mm).")
    if not 0.0 <= float(threshold) <= 1.0:
        raise CoinError(
            f"Threshold {threshold} is outside [0, 1].",
            "the difference map is in [0, 1] units; the paper uses 0.25.",
        )
    mask = postprocess_mask(np.asarray(difference) > float(threshold), postprocess)
    return grow_mask(mask, margin, pixel_mm) if margin > 0 else mask


def canonical_pixel_mm(canonical: Volume) -> tuple[float, float]:
    """(row, column) pixel size in mm of a volume in canonical orientation (array axes k, j, i)."""
    return float(canonical.spacing[1]), float(canonical.spacing[0])


def threshold_difference(
    difference: Volume | np.ndarray,
    threshold: float,
    postprocess: str = "paper",
    margin_mm: float = DEFAULT_MARGIN_MM,
    pixel_mm: Any = None,
) -> Any:
    """Re-threshold a difference map without running the network.

    Used by ``segment_volume`` itself, the Slicer threshold slider and the web page, so all of them
    give the same mask for the same threshold.

    Args:
        difference: a :class:`coin_core.io.Volume` in any orientation (the clean-up runs on its
            axial slices, found with ``to_canonical``), or a numpy array whose axis 0 is axial.
        threshold: in [0, 1] units; voxels with ``difference > threshold`` are lesion.
        postprocess: "paper", "3d" or "none".
        margin_mm: grow the cleaned mask in-plane by this many millimetres (0 = the paper: none).
        pixel_mm: (row, column) pixel size in mm of an array (a Volume knows its own).

    Returns:
        A uint8 mask: a Volume with the difference's geometry, or an array of the same shape.
    """
    if isinstance(difference, np.ndarray):
        return threshold_array(difference, threshold, postprocess, margin_mm, pixel_mm)
    from coin_core.io import from_canonical, to_canonical

    canonical = to_canonical(difference)
    mask = threshold_array(canonical.array, threshold, postprocess, margin_mm, canonical_pixel_mm(canonical))
    native = np.ascontiguousarray(from_canonical(mask, difference), dtype=np.uint8)
    return difference.with_array(native)
