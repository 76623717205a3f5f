"""Measurements per connected lesion component: the ``<name>_lesions.csv`` table.

A lesion is a connected component of the mask in 3D (26-connectivity: voxels touching by a face, an
edge or a corner belong together; ``skimage.measure.label``). For each one:

* ``voxels`` and ``volume_ml`` (voxel count x voxel volume);
* ``longest_axial_diameter_mm``: the largest Feret diameter of its cross-section over its axial
  slices (``skimage.measure.regionprops(...).feret_diameter_max`` with the pixel spacing, i.e. the
  longest distance across the convex hull of the pixel outline), and the axial slice where it lies;
* ``mean_hu`` and ``max_hu`` of the CT inside it;
* ``slice_first`` / ``slice_last``: its axial slice range, as canonical axial indices (inferior
  first; the ``slice`` column of ``<name>_slices.csv``);
* its centre (centroid of the voxel centres) in LPS (DICOM, ITK) and RAS (3D Slicer) millimetres.

"Axial" is the canonical k axis of :func:`coin_core.io.to_canonical` (the axis closest to
superior), so oblique scans are measured on their own slices without resampling. Lesions are
numbered by volume, largest first.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError

if TYPE_CHECKING:
    from coin_core.io import Volume

COLUMNS = (
    "lesion",
    "voxels",
    "volume_ml",
    "longest_axial_diameter_mm",
    "diameter_slice",
    "mean_hu",
    "max_hu",
    "slice_first",
    "slice_last",
    "center_lps_x_mm",
    "center_lps_y_mm",
    "center_lps_z_mm",
    "center_ras_x_mm",
    "center_ras_y_mm",
    "center_ras_z_mm",
)


@dataclass(frozen=True)
class LesionMeasurement:
    """One connected lesion component (see the module docstring for each field)."""

    lesion: int
    voxels: int
    volume_ml: float
    longest_axial_diameter_mm: float
    diameter_slice: int
    mean_hu: float
    max_hu: float
    slice_first: int
    slice_last: int
    center_lps_x_mm: float
    center_lps_y_mm: float
    center_lps_z_mm: float
    center_ras_x_mm: float
    center_ras_y_mm: float
    center_ras_z_mm: float

    @property
    def center_lps(self) -> tuple[float, float, float]:
        return (self.center_lps_x_mm, self.center_lps_y_mm, self.center_lps_z_mm)

    @property
    def center_ras(self) -> tuple[float, float, float]:
        return (self.center_ras_x_mm, self.center_ras_y_mm, self.center_ras_z_mm)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _same_grid(a: Volume, b: Volume) -> bool:
    return (
        a.array.shape == b.array.shape
        and np.allclose(a.spacing, b.spacing, rtol=0, atol=1e-4)
        and np.allclose(a.origin, b.origin, rtol=0, atol=1e-3)
        and np.allclose(a.direction, b.direction, rtol=0, atol=1e-5)
    )


def _axial_diameters(labels: np.ndarray, spacing_ji: tuple[float, float], count: int) -> tuple:
    """Longest Feret diameter (mm) per label over its axial slices, and the slice where it lies."""
    from skimage.measure import regionprops

    best = np.zeros(count + 1)
    where = np.full(count + 1, -1, dtype=int)
    for k in np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1)):
        for region in regionprops(labels[k], spacing=spacing_ji):
            d = float(region.feret_diameter_max)
            if d > best[region.label]:
                best[region.label], where[region.label] = d, int(k)
    return best, where


def measure_lesions(mask: Volume, image: Volume | None = None) -> list[LesionMeasurement]:
    """Measure every connected component of ``mask`` (nonzero = lesion).

    Args:
        mask: the lesion mask.
        image: the CT (HU) on the mask's grid; None leaves ``mean_hu`` / ``max_hu`` as NaN.

    Returns:
        One :class:`LesionMeasurement` per component, largest volume first (empty for an empty mask).

    Raises:
        CoinError: ``image`` is on another grid than ``mask``.
    """
    from skimage.measure import label, regionprops

    from coin_core.io import to_canonical

    if image is not None and not _same_grid(mask, image):
        raise CoinError(
            f"The lesion mask (size {mask.array.shape[::-1]}, spacing {mask.spacing}) is not on the "
            f"CT's grid (size {image.array.shape[::-1]}, spacing {image.spacing}).",
            "measure a mask made on this CT (resample it onto the CT's grid first, e.g. in 3D Slicer).",
        )
    canon = to_canonical(mask.with_array(np.asarray(mask.array) != 0))
    labels, count = label(canon.array, connectivity=3, return_num=True)
    if count == 0:
        return []
    hu = to_canonical(image).array.astype(np.float32) if image is not None else None
    regions = regionprops(labels, intensity_image=hu)
    diameters, where = _axial_diameters(labels, (canon.spacing[1], canon.spacing[0]), count)
    voxel_ml = float(np.prod(canon.spacing)) / 1000.0
    to_lps = canon.direction_matrix * np.asarray(canon.spacing)[None, :]
    rows = []
    for region in regions:
        k, j, i = region.centroid
        lps = np.asarray(canon.origin) + to_lps @ np.array([i, j, k])
        rows.append(
            dict(
                voxels=int(region.area),
                volume_ml=float(region.area) * voxel_ml,
                longest_axial_diameter_mm=float(diameters[region.label]),
                diameter_slice=int(where[region.label]),
                mean_hu=float(region.intensity_mean) if hu is not None else math.nan,
                max_hu=float(region.intensity_max) if hu is not None else math.nan,
                slice_first=int(region.bbox[0]),
                slice_last=int(region.bbox[3] - 1),
                center_lps_x_mm=float(lps[0]),
                center_lps_y_mm=float(lps[1]),
                center_lps_z_mm=float(lps[2]),
                center_ras_x_mm=float(-lps[0]),
                center_ras_y_mm=float(-lps[1]),
                center_ras_z_mm=float(lps[2]),
            )
        )
    rows.sort(key=lambda r: (-r["voxels"], r["slice_first"], r["center_lps_z_mm"]))
    return [LesionMeasurement(lesion=n, **row) for n, row in enumerate(rows, start=1)]


def _cell(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.3f}"


def write_lesions_csv(lesions: list[LesionMeasurement], path: str | os.PathLike[str]) -> None:
    """Write the table (header row, one row per lesion; an empty mask gives the header only)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for lesion in lesions:
            values = lesion.to_dict()
            w.writerow([_cell(values[c]) for c in COLUMNS])


def format_lesion_table(lesions: list[LesionMeasurement], limit: int = 10) -> str:
    """A short text table of the largest lesions, for a terminal."""
    if not lesions:
        return "No lesion (the mask is empty)."
    lines = [
        f"{len(lesions)} lesion{'s' if len(lesions) != 1 else ''} (largest first):",
        "  #  volume ml  axial diam mm  mean HU  max HU  slices    centre RAS mm",
    ]
    for les in lesions[:limit]:
        hu = "" if math.isnan(les.mean_hu) else f"{les.mean_hu:7.1f}  {les.max_hu:6.0f}"
        ras = ", ".join(f"{v:.1f}" for v in les.center_ras)
        lines.append(
            f"{les.lesion:3d}  {les.volume_ml:9.3f}  {les.longest_axial_diameter_mm:13.1f}  {hu:>15}  "
            f"{les.slice_first:>3}-{les.slice_last:<4}  ({ras})"
        )
    if len(lesions) > limit:
        lines.append(f"  ... {len(lesions) - limit} more in the lesions CSV")
    return "\n".join(lines)
