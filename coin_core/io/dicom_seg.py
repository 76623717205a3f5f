"""DICOM Segmentation (SEG) objects that reference the source CT series, written with highdicom.

``write_dicom_seg(mask, source_folder, path, coding)`` writes a binary DICOM SEG with one segment:
frame ``k`` is the mask on slice file ``k`` of the source series (the slice order of
:func:`coin_core.io.dicom.read_dicom_series`), each frame references its source instance
(SOP Instance UID) and shares its Frame of Reference, and the segment is coded with
:class:`coin_core.infer.coding.SegmentCoding` (SNOMED CT finding and host organ, algorithm type
AUTOMATIC, or SEMIAUTOMATIC after editing, algorithm name and version). Empty frames are left out,
as DICOM allows. Why highdicom and not dcmqi: docs/outputs.md.

The mask must lie on the series' own grid (same slices, rows, columns, positions and orientation):
anything else raises :class:`CoinError` before a file is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError

if TYPE_CHECKING:
    import pydicom

    from coin_core.infer.coding import SegmentCoding
    from coin_core.io.volume import Volume

MANUFACTURER = "COIN for 3D Slicer"
SERIES_DESCRIPTION = "COIN lesion segmentation"
# tolerances of the grid check: positions in mm, direction cosines, spacing in mm
POSITION_TOL_MM = 0.01
DIRECTION_TOL = 1e-4
SPACING_TOL_MM = 1e-3


def _source_datasets(source: str | os.PathLike[str], series_uid: str | None) -> list[pydicom.Dataset]:
    import pydicom

    from coin_core.io.dicom import dicom_series_files

    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise CoinError(
            f"A DICOM SEG output needs a DICOM series as input, but '{source}' is not a DICOM folder.",
            "give the folder holding the CT's DICOM slice files (a DICOM SEG references them); for a "
            "NIfTI, NRRD or MHA input, use the .seg.nrrd output instead.",
        )
    files = dicom_series_files(folder, series_uid)
    if len(files) == 1:
        raise CoinError(
            f"The DICOM input '{source}' is a single (multi-frame) file; DICOM SEG output is only "
            "written for series of single-slice files.",
            "use the .seg.nrrd output, or export the CT as a classic series of slice files.",
        )
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]


def check_dicom_source(source: str | os.PathLike[str], series_uid: str | None = None) -> None:
    """Raise :class:`CoinError` unless ``source`` is a DICOM series a DICOM SEG can reference.

    Cheap (headers only): run it before a long computation whose result goes into a DICOM SEG.
    """
    _source_datasets(source, series_uid)


def _series_grid(datasets: list[pydicom.Dataset]) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
    """((k, j, i) shape, LPS position of each slice (k, 3), direction (3x3, columns i, j, k))."""
    first = datasets[0]
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in datasets])
    shape = (len(datasets), int(first.Rows), int(first.Columns))
    return shape, positions, np.stack([row, col, normal], axis=1)


def check_mask_on_series(mask: Volume, datasets: list[pydicom.Dataset], source: str) -> None:
    """Raise :class:`CoinError` unless ``mask`` lies on the grid of the (ordered) source slices."""
    shape, positions, direction = _series_grid(datasets)
    spacing = [float(v) for v in datasets[0].PixelSpacing]  # (row spacing = j, column spacing = i)
    d = mask.direction_matrix
    step = d * np.asarray(mask.spacing)[None, :]
    k = np.arange(shape[0])
    expected = np.asarray(mask.origin)[None, :] + np.outer(k, step[:, 2])
    problems = []
    if mask.array.shape != shape:
        problems.append(f"size {mask.array.shape[::-1]} instead of the series' {shape[::-1]} (i, j, k)")
    elif np.abs(d - direction).max() > DIRECTION_TOL:
        problems.append("another orientation")
    elif (
        abs(mask.spacing[0] - spacing[1]) > SPACING_TOL_MM
        or abs(mask.spacing[1] - spacing[0]) > SPACING_TOL_MM
    ):
        problems.append(f"pixel spacing {mask.spacing[:2]} instead of {(spacing[1], spacing[0])} mm")
    elif np.abs(expected - positions).max() > max(POSITION_TOL_MM, 0.01 * min(mask.spacing)):
        problems.append(
            f"slice positions up to {np.abs(expected - positions).max():.3f} mm away from the series' slices"
        )
    if problems:
        raise CoinError(
            f"The mask is not on the grid of the DICOM series in '{source}': {problems[0]}.",
            "a DICOM SEG needs a mask made on this series (e.g. by `coin segment` on this folder); "
            "resample the mask onto the series' grid first (e.g. in 3D Slicer).",
        )


def _code(triple: tuple[str, str, str]):  # noqa: ANN202
    from pydicom.sr.coding import Code

    scheme, value, meaning = triple
    return Code(value=value, scheme_designator=scheme, meaning=meaning)


def build_dicom_seg(
    mask: Volume,
    datasets: list[pydicom.Dataset],
    coding: SegmentCoding,
    series_description: str = SERIES_DESCRIPTION,
) -> pydicom.Dataset:
    """The DICOM SEG dataset (highdicom ``Segmentation``) for ``mask`` on the ordered source slices."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    algorithm = hd.AlgorithmIdentificationSequence(
        name=coding.algorithm_name,
        family=codes.cid7162.ArtificialIntelligence,
        version=coding.algorithm_version,
    )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=coding.name,
        segmented_property_category=_code(coding.category),
        segmented_property_type=_code(coding.finding),
        algorithm_type=(
            hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
            if coding.edited
            else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        ),
        algorithm_identification=algorithm,
        tracking_uid=generate_uid(),
        tracking_id=f"{coding.algorithm_name} {coding.name}"[:64],
        anatomic_regions=[_code(coding.anatomy)] if coding.anatomy else None,
        display_color=hd.color.CIELabColor.from_rgb(*[int(round(255 * c)) for c in coding.color]),
    )
    try:
        source_number = int(datasets[0].get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        source_number = 0
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=(np.asarray(mask.array) != 0).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(),
        series_number=source_number + 1000,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=coding.algorithm_name,
        software_versions=coding.algorithm_version,
        device_serial_number="none",
        content_label="COIN",
        content_description=(
            "Lesion mask from counterfactual inpainting" + (", edited by hand" if coding.edited else "")
        )[:64],
        series_description=series_description[:64],
        omit_empty_frames=True,
    )
    return seg


def write_dicom_seg(
    mask: Volume,
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    coding: SegmentCoding,
    series_uid: str | None = None,
) -> None:
    """Write ``mask`` as a DICOM SEG file at ``path`` that references the series in ``source``.

    The caller provides atomicity (``OutputSet`` / ``atomic_path``): on an error nothing is left at
    ``path`` by this function's checks, which all run before writing.

    Args:
        mask: the lesion mask on the series' grid (nonzero = lesion), e.g. ``SegmentationResult.mask``.
        source: the folder of the source DICOM series.
        path: the file to write (``.dcm``).
        coding: the segment's codes and the algorithm (``coin_core.infer.coding.coding_for_model``).
        series_uid: which series of ``source`` (when it holds several).

    Raises:
        CoinError: ``source`` is not a DICOM series folder, the mask is on another grid, or it is empty.
    """
    datasets = _source_datasets(source, series_uid)
    check_mask_on_series(mask, datasets, str(source))
    if not np.any(mask.array):
        raise CoinError(
            "The lesion mask is empty, so there is no DICOM SEG to write (a segment needs at least one "
            "voxel).",
            "lower the threshold (coin segment --threshold), edit the segment, or leave out the DICOM "
            "SEG output for this scan.",
        )
    seg = build_dicom_seg(mask, datasets, coding)
    seg.save_as(str(path), enforce_file_format=True)
