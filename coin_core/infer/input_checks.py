"""Is this input a CT in HU, and does the host mask fit it? Checked before the network runs.

A COIN model maps HU through its intensity window; NaN, infinite values or intensities that are
not HU give confident nonsense (every slice "abnormal", the whole body "lesion") with exit 0. So
``coin segment`` refuses, with one message each:

- non-finite voxels (NaN, +-inf): always (no model output is meaningful for them);
- intensities that do not look like CT in HU, unless the user overrides (``--allow-unusual-hu``):
  no air (fewer than ``MIN_AIR_FRACTION`` of the voxels at or below ``AIR_HU``: an MR image, a CT
  stored without its rescale, or HU divided by 1000), or more than ``MAX_DENSE_FRACTION`` of the
  voxels above ``MAX_PLAUSIBLE_HU`` (HU multiplied by a scale factor; metal implants stay far below
  that fraction). Padding outside the scanner's field of view (-3024, -32768) is allowed.

Host masks (``--host-mask``): on the CT's grid (shape, spacing, origin and direction within
``GEOMETRY_TOLERANCE_MM``), holding at least one of the asked labels, and leaving at least one
slice to process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError

if TYPE_CHECKING:
    from coin_core.io import Volume

AIR_HU = -500.0
"""Voxels at or below this are air (lung, bowel gas, the air around the body)."""
MIN_AIR_FRACTION = 0.001
"""A CT in HU has at least this fraction of air voxels (0.1 %)."""
MAX_PLAUSIBLE_HU = 4000.0
"""Dense bone is below about 2000 HU, most metal below 4000 (extended scales reach 30000 in implants)."""
MAX_DENSE_FRACTION = 0.01
"""More than this fraction (1 %) of voxels above ``MAX_PLAUSIBLE_HU`` is not a CT in HU."""
GEOMETRY_TOLERANCE_MM = 1e-3
"""Spacing / origin (mm) and direction (cosines) may differ this much between CT and host mask."""
OVERRIDE_FLAG = "--allow-unusual-hu"
_CHUNK_SLICES = 16  # count in slabs: the checks need no copy of a large volume


def _counts(array: np.ndarray) -> tuple[int, int, int, tuple[int, ...] | None]:
    """(non-finite, air, dense) voxel counts and the index of the first non-finite voxel."""
    bad = air = dense = 0
    first = None
    for k0 in range(0, array.shape[0], _CHUNK_SLICES):
        slab = np.asarray(array[k0 : k0 + _CHUNK_SLICES])
        if np.issubdtype(slab.dtype, np.floating):
            finite = np.isfinite(slab)
            n_bad = int(slab.size - np.count_nonzero(finite))
            if n_bad:
                if first is None:
                    where = np.argwhere(~finite)[0]
                    first = (int(where[0]) + k0, int(where[1]), int(where[2]))
                bad += n_bad
        air += int(np.count_nonzero(slab <= AIR_HU))
        dense += int(np.count_nonzero(slab > MAX_PLAUSIBLE_HU))
    return bad, air, dense, first


def check_ct_intensities(volume: Volume, allow_unusual: bool = False, source: str | None = None) -> None:
    """Raise :class:`CoinError` unless ``volume`` is finite and looks like a CT in HU.

    Args:
        volume: the input, as read (native orientation).
        allow_unusual: skip the HU-range check (the finiteness check always runs).
        source: the file it was read from; a NIfTI file is also checked for NaN / inf voxels
            in the file itself (ITK's reader turns them into 0).
    """
    array = np.asarray(volume.array)
    total = int(array.size)
    if total == 0:
        raise CoinError("The input image holds no voxels.", "give a 3D CT volume.")
    bad, air, dense, first = _counts(array)
    if not bad and source is not None and str(source).lower().endswith((".nii", ".nii.gz")):
        from pathlib import Path

        from coin_core.io.nifti_check import count_nonfinite

        in_file = count_nonfinite(Path(source))
        if in_file:
            raise CoinError(
                f"The input file holds {in_file} voxel(s) that are not numbers (NaN or infinite); the "
                "NIfTI reader would silently turn them into 0 HU (water) and the model would see them.",
                "export the CT again, or replace those voxels (e.g. by -1000 HU, air) before segmenting.",
            )
    if bad:
        k, j, i = first or (0, 0, 0)
        raise CoinError(
            f"The input holds {bad} voxel(s) that are not numbers (NaN or infinite), the first at voxel "
            f"(i, j, k) = ({i}, {j}, {k}); a model run on them gives meaningless results.",
            "export the CT again, or replace those voxels (e.g. by -1000 HU, air) before segmenting.",
        )
    if allow_unusual:
        return
    lo, hi = float(np.min(array)), float(np.max(array))
    shown = f"its intensities range from {lo:.6g} to {hi:.6g}"
    if dense > MAX_DENSE_FRACTION * total:
        raise CoinError(
            f"The input does not look like a CT in Hounsfield units: {100.0 * dense / total:.1f} % of its "
            f"voxels are above {MAX_PLAUSIBLE_HU:g} HU ({shown}).",
            f"check the rescale slope / intercept of the export (HU = slope * value + intercept); if the "
            f"image really is a CT in HU, pass {OVERRIDE_FLAG}.",
        )
    if air < MIN_AIR_FRACTION * total:
        raise CoinError(
            f"The input does not look like a CT in Hounsfield units: it holds no air (fewer than "
            f"{100.0 * MIN_AIR_FRACTION:g} % of its voxels at or below {AIR_HU:g} HU; {shown}). An MR "
            "image, a CT stored without its rescale, or a crop inside the body would look like this.",
            "give a CT in HU (air about -1000, water 0); if it is one (e.g. cropped inside the body), "
            f"pass {OVERRIDE_FLAG}.",
        )


MAX_LABELS = 255
"""A label map with more distinct values than this is an image (a CT given by mistake), not a label map."""


def check_label_map(mask: Volume, source: str = "--host-mask") -> np.ndarray:
    """The distinct values of ``mask``; :class:`CoinError` unless they look like labels (whole numbers >= 0,
    at most :data:`MAX_LABELS` of them besides 0)."""
    values = np.unique(np.asarray(mask.array))
    if len(values) > MAX_LABELS + 1 or not np.all(values == np.round(values)) or values.min() < 0:
        raise CoinError(
            f"{source} has {len(values)} distinct values (from {values.min():g} to {values.max():g}): "
            "it is an image, not a label map.",
            "give the host organ's label map (whole numbers, one per organ) made for this CT, not the CT.",
        )
    return values


def check_host_mask(volume: Volume, mask: Volume, label_ids: list[int], source: str = "--host-mask") -> None:
    """Raise :class:`CoinError` unless ``mask`` lies on ``volume``'s grid and holds one of ``label_ids``."""
    if mask.array.shape != volume.array.shape:
        raise CoinError(
            f"{source} has {mask.array.shape[::-1]} voxels (i, j, k); the CT has {volume.array.shape[::-1]}.",
            "give a label map on the CT's own voxel grid (e.g. TotalSegmentator's output for this CT).",
        )
    for what, a, b in (
        ("spacing", mask.spacing, volume.spacing),
        ("origin", mask.origin, volume.origin),
        ("direction", mask.direction, volume.direction),
    ):
        if not np.allclose(a, b, rtol=0.0, atol=GEOMETRY_TOLERANCE_MM):
            fmt = ", ".join(f"{v:.4g}" for v in a)
            ct = ", ".join(f"{v:.4g}" for v in b)
            raise CoinError(
                f"{source} has the CT's shape but another {what} ({fmt}; the CT: {ct}): its voxels "
                "would mark the wrong slices.",
                "give the label map made for this CT (same grid), or resample it onto the CT first.",
            )
    values = check_label_map(mask, source)
    present = [int(v) for v in values]
    if not any(i in present for i in label_ids):
        listed = ", ".join(str(v) for v in present[:20]) + (", ..." if len(present) > 20 else "")
        raise CoinError(
            f"--host-labels {','.join(str(i) for i in label_ids)}: none of these labels is in {source} "
            f"(it holds the values {listed}); no slice would be processed.",
            "pass the host organ's label ids as they are in this label map (e.g. --host-labels 2,3).",
        )


def check_host_slices(keep: np.ndarray, label_ids: list[int], min_pixels: int) -> None:
    """Raise :class:`CoinError` when the host filter leaves no slice."""
    if not np.asarray(keep).any():
        raise CoinError(
            f"No axial slice has more than {min_pixels} voxels of the host labels "
            f"{','.join(str(i) for i in label_ids)}; no slice would be processed.",
            "lower --min-host-pixels, or check --host-labels against the label map.",
        )
