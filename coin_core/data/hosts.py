"""Host masks computed from the CT itself, for data without an organ segmentation.

``coin data prepare --host body`` (or ``--host lung``) uses them when dataset.json has no label of
that name. Both work on the canonical ``(k, j, i)`` HU volume:

* **body**: voxels above :data:`BODY_HU` (-500 HU: soft tissue, not air), the largest 3D connected
  component (the patient, not the table or the air outside), then the holes of every axial slice
  filled, so the lungs, the bowel gas and the airways are inside the body.
* **lung**: voxels below :data:`LUNG_HU` (-400 HU) inside the body and not connected to the air
  outside it in their slice, the largest two 3D components above :data:`MIN_LUNG_ML` (the two lungs;
  the trachea and bowel gas are smaller in a chest CT), then the holes of every axial slice filled so
  that vessels and tumours surrounded by lung belong to the host. A tumour on the chest wall is not
  inside the lung mask: the slice builders add the lesion labels to the host anyway.

The masks are plain thresholds, not segmentations: good enough to choose slices and to restrict a
search area, not to measure an organ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coin_core.errors import CoinError

#: names of the computed hosts (used when dataset.json has no label of that name)
COMPUTED_HOSTS = ("body", "lung")
BODY_HU = -500.0
LUNG_HU = -400.0
MIN_LUNG_ML = 20.0


def _largest_components(mask: np.ndarray, n: int, min_voxels: int = 1) -> np.ndarray:
    from scipy import ndimage

    labelled, count = ndimage.label(mask)
    if count == 0:
        return np.zeros(mask.shape, bool)
    sizes = np.bincount(labelled.ravel())[1:]
    order = np.argsort(-sizes)[:n]
    keep = [int(i) + 1 for i in order if sizes[i] >= min_voxels]
    return np.isin(labelled, keep)


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.stack([ndimage.binary_fill_holes(m) for m in mask]) if len(mask) else mask.copy()


def body_mask(hu: np.ndarray) -> np.ndarray:
    """bool (k, j, i): the patient's body (air threshold, largest component, holes filled per slice)."""
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise CoinError(f"body_mask: expected a (k, j, i) volume, got shape {hu.shape}.")
    return _fill_slices(_largest_components(hu > BODY_HU, 1))


def lung_mask(hu: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """bool (k, j, i): air inside the body (the two largest components), holes filled per slice.

    ``spacing`` (i, j, k) in mm sets the :data:`MIN_LUNG_ML` size limit.
    """
    from scipy import ndimage

    hu = np.asarray(hu)
    body = body_mask(hu)
    air = (hu < LUNG_HU) & body
    # air connected (in its slice) to the border of the image is outside the patient
    outside = np.zeros_like(air)
    for k in range(len(air)):
        lab, _ = ndimage.label(air[k])
        border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        outside[k] = np.isin(lab, border[border > 0])
    voxel_ml = float(np.prod(spacing)) / 1000.0
    lungs = _largest_components(air & ~outside, 2, int(MIN_LUNG_ML / max(voxel_ml, 1e-9)))
    return _fill_slices(lungs)


def computed_host(name: str, hu: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """The computed host ``name`` (one of :data:`COMPUTED_HOSTS`) of a canonical HU volume."""
    if name == "body":
        return body_mask(hu)
    if name == "lung":
        return lung_mask(hu, spacing)
    raise CoinError(f"No computed host named {name!r}.", f"use one of {', '.join(COMPUTED_HOSTS)}.")


def resolve_host(labels: dict[str, int], host: tuple[str, ...]) -> str | None:
    """The computed host to use for ``host``, or None when the dataset's labels name it.

    A computed host stands alone: ``("body",)`` or ``("lung",)`` when dataset.json has no label of
    that name.

    Raises:
        CoinError: a computed host name mixed with other names.
    """
    computed = [h for h in host if h in COMPUTED_HOSTS and h not in labels]
    if not computed:
        return None
    if len(host) != 1:
        raise CoinError(
            f"--host {','.join(host)}: {computed[0]!r} is computed from the CT and cannot be combined.",
            f"use --host {computed[0]} alone, or organ labels of the dataset.",
        )
    return computed[0]


def host_label_id(labels: dict[str, int]) -> int:
    """The label id given to the computed host in the slice builders (one above the largest id)."""
    return max([0, *labels.values()]) + 1


def with_computed_host(
    label: np.ndarray, host: np.ndarray, lesion_ids: list[int], host_id: int
) -> np.ndarray:
    """A label volume whose non-lesion voxels are ``host_id`` inside ``host`` and 0 outside.

    Other organ labels become host or background: with a computed host, only the host and the
    lesions matter to the slice builders.
    """
    lesion = np.isin(label, lesion_ids) if lesion_ids else np.zeros(label.shape, bool)
    dtype = np.uint8 if max(host_id, *([int(label.max())] if label.size else [0])) < 256 else np.int16
    out = np.where(host, host_id, 0).astype(dtype)
    out[lesion] = label[lesion]
    return out


def computed_host_note(name: str) -> str:
    """benchmark.json's "host_computed" entry: how the host mask was made."""
    if name == "body":
        return f"body: HU > {BODY_HU:g}, largest 3D component, holes filled per axial slice (not a label)"
    return (
        f"lung: HU < {LUNG_HU:g} inside the body, not touching the image border in its slice, two largest "
        f"3D components >= {MIN_LUNG_ML:g} mL, holes filled per axial slice (not a label)"
    )


def host_ids_or_hint(
    ds: Any, host: tuple[str, ...], computed: str | None, labels: dict[str, int]
) -> list[int]:
    """The host label ids: the computed host's id, or the dataset's ids (CoinError with a hint)."""
    if computed:
        return [host_label_id(labels)]
    try:
        return ds.label_ids(list(host))
    except CoinError as err:
        raise CoinError(
            err.message,
            f"{err.hint or 'check --host'}; without an organ label use --host body (or --host lung): "
            "a mask computed from the CT.",
        ) from None
