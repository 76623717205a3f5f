"""The files of ``coin segment``, written as one unit (all appear, or none).

For an input named ``<name>`` (file name without its image suffix, or the DICOM folder's name):

* ``<name>_counterfactual.nii.gz``: the counterfactual CT in HU, on the input's grid;
* ``<name>_difference.nii.gz``: ``|x - x_cf|`` in [0, 1] units (float32), on the input's grid;
* ``<name>_lesion.seg.nrrd``: a 3D Slicer segmentation with one coded segment, "lesion"
  (:mod:`coin_core.infer.segnrrd`, codes from :mod:`coin_core.infer.coding`);
* ``<name>_slices.csv``: one row per axial slice (inferior to superior): ``slice`` (canonical
  axial index), ``z_mm`` (LPS superior coordinate), ``probability_before``, ``probability_after``,
  ``counterfactual`` (1 when one was made), ``lesion_voxels``, ``anatomy_score`` (the anatomy
  gate's score, empty without a gate; above the card's ``anatomy_gate.threshold`` = outside) and
  ``note`` ("outside the model's training anatomy" where the gate skipped the slice);
* ``<name>_overview.png``: the most abnormal slices (:mod:`coin_core.infer.overview`);
* ``<name>_lesions.csv``: one row per connected lesion (:mod:`coin_core.infer.lesion_table`);
* ``<name>_lesion_seg.dcm`` (only when asked, for a DICOM series input): a DICOM SEG referencing the
  source series (:mod:`coin_core.io.dicom_seg`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coin_core.fileutil import OutputSet

if TYPE_CHECKING:
    from coin_core.infer.coding import SegmentCoding
    from coin_core.infer.lesion_table import LesionMeasurement
    from coin_core.infer.segment import SegmentationResult
    from coin_core.io import Volume

OUTSIDE_NOTE = "outside the model's training anatomy"
OUTPUT_KEYS = ("counterfactual", "difference", "segmentation", "slices_csv", "overview", "lesions_csv")
DICOM_SEG_KEY = "dicom_seg"
_SUFFIXES = {
    "counterfactual": "_counterfactual.nii.gz",
    "difference": "_difference.nii.gz",
    "segmentation": "_lesion.seg.nrrd",
    "slices_csv": "_slices.csv",
    "overview": "_overview.png",
    "lesions_csv": "_lesions.csv",
    DICOM_SEG_KEY: "_lesion_seg.dcm",
}
_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")


def input_stem(path: str | os.PathLike[str]) -> str:
    """``ct.nii.gz`` -> ``ct``; a DICOM folder -> the folder's name."""
    p = Path(path).expanduser()
    name = p.resolve().name if p.is_dir() or p.name in ("", ".", "..") else p.name
    lower = name.lower()
    for suffix in _IMAGE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name or "volume"


def output_paths(out_dir: str | os.PathLike[str], name: str, dicom_seg: bool = False) -> dict[str, Path]:
    """The output paths for ``name`` in ``out_dir``, keyed as in the worker protocol.

    ``dicom_seg`` adds the DICOM SEG file (key ``"dicom_seg"``).
    """
    out = Path(out_dir).expanduser()
    keys = (*OUTPUT_KEYS, DICOM_SEG_KEY) if dicom_seg else OUTPUT_KEYS
    return {key: out / f"{name}{_SUFFIXES[key]}" for key in keys}


def write_slices_csv(result: SegmentationResult, path: str | os.PathLike[str]) -> None:
    """One row per axial slice with the probabilities before and after the counterfactual."""
    voxels = result.lesion_voxels
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "slice",
                "z_mm",
                "probability_before",
                "probability_after",
                "counterfactual",
                "lesion_voxels",
                "anatomy_score",
                "note",
            ]
        )
        for k in range(len(result.probability_before)):
            w.writerow(
                [
                    k,
                    f"{result.slice_z_mm[k]:.3f}",
                    f"{result.probability_before[k]:.6f}",
                    f"{result.probability_after[k]:.6f}",
                    int(result.counterfactual_made[k]),
                    int(voxels[k]),
                    _score(result.gate_score, k),
                    OUTSIDE_NOTE if result.outside_anatomy is not None and result.outside_anatomy[k] else "",
                ]
            )


def _score(scores: np.ndarray | None, k: int) -> str:
    return "" if scores is None or not np.isfinite(scores[k]) else f"{scores[k]:.4f}"


def write_outputs(
    result: SegmentationResult,
    out_dir: str | os.PathLike[str],
    name: str,
    overwrite: bool = False,
    *,
    image: Volume | None = None,
    coding: SegmentCoding | None = None,
    dicom_source: str | os.PathLike[str] | None = None,
    series_uid: str | None = None,
    lesions: list[LesionMeasurement] | None = None,
) -> dict[str, Path]:
    """Write the outputs of a segmentation into ``out_dir``, all or none.

    Args:
        result: what :func:`coin_core.infer.segment_volume` returned.
        out_dir: destination folder (created when missing).
        name: file name prefix (see :func:`input_stem`).
        overwrite: replace existing files; without it existing files raise :class:`CoinError`
            before anything is written.
        image: the input CT; gives the lesion table its HU columns (left empty without it).
        coding: the segment's codes and algorithm (``coding.coding_for_model``); default: uncoded host.
        dicom_source: the input's DICOM series folder: also write the DICOM SEG (key "dicom_seg").
        series_uid: the series in ``dicom_source`` when it holds several.
        lesions: the lesion table when the caller has measured it already (else measured here).

    Returns:
        The written paths, keyed "counterfactual", "difference", "segmentation", "slices_csv",
        "overview", "lesions_csv" (and "dicom_seg").
    """
    from coin_core.infer.coding import SegmentCoding
    from coin_core.infer.lesion_table import measure_lesions, write_lesions_csv
    from coin_core.infer.overview import render_overview
    from coin_core.infer.segnrrd import write_seg_nrrd
    from coin_core.io import write_volume

    coding = coding or SegmentCoding()
    paths = output_paths(out_dir, name, dicom_seg=dicom_source is not None)
    with OutputSet(list(paths.values()), overwrite=overwrite) as out:
        if dicom_source is not None:  # first: its checks (grid, empty mask) fail before the slow writes
            from coin_core.io.dicom_seg import write_dicom_seg

            write_dicom_seg(result.mask, dicom_source, out.tmp(paths[DICOM_SEG_KEY]), coding, series_uid)
        write_volume(result.counterfactual, out.tmp(paths["counterfactual"]))
        write_volume(result.difference, out.tmp(paths["difference"]))
        write_seg_nrrd(result.mask, out.tmp(paths["segmentation"]), coding=coding)
        write_slices_csv(result, out.tmp(paths["slices_csv"]))
        if lesions is None:
            lesions = measure_lesions(result.mask, image)
        write_lesions_csv(lesions, out.tmp(paths["lesions_csv"]))
        render_overview(result.preview, result.window, result.preview_pixel_mm, out.tmp(paths["overview"]))
    return paths
