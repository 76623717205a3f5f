"""Canonical orientation: permute / flip voxel axes (never resample) so that i->L, j->P, k->S.

For each canonical axis (L, P, S) the image axis whose direction is closest to it is taken
(the permutation that maximises the total alignment, so oblique images work too) and flipped when
it points the other way. Voxel values are not interpolated, so ``from_canonical`` restores the
original array exactly. For an oblique image the canonical axes are only the nearest ones to L, P, S.

In the canonical array (``(k, j, i)`` numpy order), ``array[k]`` is an axial slice whose rows run
anterior -> posterior and whose columns run patient right -> left (radiological display).
"""

from __future__ import annotations

import itertools

import numpy as np

from coin_core.io.volume import Volume


def canonical_axes(
    direction: tuple[float, ...] | np.ndarray,
) -> tuple[tuple[int, int, int], tuple[bool, ...]]:
    """Axis permutation and flips that bring an image to L, P, S.

    Args:
        direction: 9 values, row-major 3x3, columns = image axes (i, j, k) in LPS.

    Returns:
        ``(perm, flips)`` in SimpleITK axis order: canonical axis ``c`` is image axis ``perm[c]``,
        reversed when ``flips[c]``.
    """
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    best = max(itertools.permutations(range(3)), key=lambda p: sum(abs(d[c, p[c]]) for c in range(3)))
    flips = tuple(bool(d[c, best[c]] < 0) for c in range(3))
    return tuple(best), flips


def _reorder(array_kji: np.ndarray, perm: tuple[int, ...], flips: tuple[bool, ...]) -> np.ndarray:
    sitk_order = array_kji.transpose(2, 1, 0)  # (i, j, k)
    out = sitk_order.transpose(perm)
    for c, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis=c)
    return np.ascontiguousarray(out.transpose(2, 1, 0))


def to_canonical(volume: Volume) -> Volume:
    """Return the volume with axes permuted / flipped so that i->L, j->P, k->S (no resampling).

    The geometry is updated so that every voxel keeps its physical position.
    """
    perm, flips = canonical_axes(volume.direction)
    d = volume.direction_matrix
    size = volume.array.shape[::-1]  # (i, j, k)
    spacing = np.asarray(volume.spacing, dtype=float)
    origin = np.asarray(volume.origin, dtype=float)
    new_dir = np.empty((3, 3))
    new_spacing = []
    for c in range(3):
        a = perm[c]
        sign = -1.0 if flips[c] else 1.0
        new_dir[:, c] = sign * d[:, a]
        new_spacing.append(spacing[a])
        if flips[c]:
            origin = origin + d[:, a] * spacing[a] * (size[a] - 1)
    return Volume(
        array=_reorder(volume.array, perm, flips),
        spacing=tuple(new_spacing),
        origin=tuple(origin),
        direction=tuple((new_dir + 0.0).ravel()),  # + 0.0 turns -0.0 from the flips into 0.0
    )


def from_canonical(array: np.ndarray, reference: Volume) -> np.ndarray:
    """Map an array on ``to_canonical(reference)``'s grid back onto ``reference``'s grid.

    Args:
        array: ``(k, j, i)`` array with the canonical volume's shape (any dtype).
        reference: the volume that was passed to :func:`to_canonical`.

    Returns:
        The array in the reference's voxel order (exact inverse, no interpolation).
    """
    perm, flips = canonical_axes(reference.direction)
    array = np.asarray(array)
    expected = tuple(reference.array.shape[::-1][a] for a in perm)[::-1]
    if array.shape != expected:
        raise ValueError(f"from_canonical: array shape {array.shape} is not the canonical shape {expected}")
    out = array.transpose(2, 1, 0)  # canonical (i, j, k)
    for c, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis=c)
    out = out.transpose(np.argsort(perm))
    return np.ascontiguousarray(out.transpose(2, 1, 0))
