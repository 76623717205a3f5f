"""Canonical (L, P, S) views of native arrays, without copying a whole volume.

:func:`coin_core.io.to_canonical` returns a contiguous copy. Inference only needs to read the
input and write the outputs slice batch by slice batch, so it works on numpy *views* that permute /
flip the native array the same way (:func:`coin_core.io.orient.canonical_axes`). Writing into a
view of a native-order output writes the native array directly, so no ``from_canonical`` copy of
the outputs is needed either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from coin_core.io import Volume


def canonical_view(array: np.ndarray, direction: tuple[float, ...]) -> np.ndarray:
    """``to_canonical(volume).array`` as a view of ``array`` (same values, no copy)."""
    from coin_core.io.orient import canonical_axes

    perm, flips = canonical_axes(direction)
    out = array.transpose(2, 1, 0).transpose(perm)  # canonical (i, j, k)
    for c, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis=c)
    return out.transpose(2, 1, 0)


def axial_geometry(volume: Volume) -> tuple[np.ndarray, tuple[float, float]]:
    """LPS z (mm) of each canonical axial slice's first voxel, and the (row, col) pixel size in mm.

    Matches the geometry :func:`coin_core.io.to_canonical` gives, without building the array.
    """
    from coin_core.io.orient import canonical_axes

    perm, flips = canonical_axes(volume.direction)
    d = np.asarray(volume.direction, dtype=float).reshape(3, 3)
    spacing = np.asarray(volume.spacing, dtype=float)
    size = volume.array.shape[::-1]  # (i, j, k)
    origin = np.asarray(volume.origin, dtype=float).copy()
    for c in range(3):
        if flips[c]:
            a = perm[c]
            origin += d[:, a] * spacing[a] * (size[a] - 1)
    a = perm[2]
    step = (-1.0 if flips[2] else 1.0) * d[2, a] * spacing[a]
    z = origin[2] + step * np.arange(size[a], dtype=np.float64)
    return z, (float(spacing[perm[1]]), float(spacing[perm[0]]))
