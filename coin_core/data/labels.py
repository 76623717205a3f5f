"""Which axial slices to use, and their image-level labels.

* Filtering (docs/method.md §3.4): a slice is kept when its host organ covers more than ``min_pixels``
  pixels, counted at native resolution (32 px for the paper's TSM data, 100 px for TUH).
* Labels from label maps: a slice is abnormal (1) when the lesion labels cover more than
  ``min_pixels`` pixels (the paper used 1000 px for TUH tumours, which calls small tumours
  normal; the default here is 0, i.e. any lesion pixel).
* Labels from a CSV, for users with image-level labels only: columns ``case, slice, label``;
  ``slice`` is the axial index k in canonical orientation (``coin_core.io.to_canonical``).

Label maps are (k, j, i) arrays, one axial slice per ``array[k]``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from coin_core.errors import CoinError


def _check_volume(label_array: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(label_array)
    if arr.ndim != 3:
        raise CoinError(f"{what}: expected a (k, j, i) label volume, got shape {arr.shape}.")
    return arr


def label_pixel_counts(label_array: np.ndarray, label_ids: Sequence[int]) -> np.ndarray:
    """Pixels per axial slice whose label is one of ``label_ids`` -> int64 array (k,)."""
    arr = _check_volume(label_array, "label_pixel_counts")
    ids = [int(v) for v in label_ids]
    if not ids:
        raise CoinError("label_pixel_counts: no label ids given.", "pass e.g. [1] for kidney.")
    return np.isin(arr, ids).sum(axis=(1, 2), dtype=np.int64)


def filter_slices(label_array: np.ndarray, host_labels: Sequence[int], min_pixels: int = 100) -> np.ndarray:
    """Indices k (sorted, int64) of slices with more than ``min_pixels`` host-organ pixels."""
    if min_pixels < 0:
        raise CoinError(
            f"The minimum number of host-organ pixels per slice is {min_pixels}; it cannot be negative.",
            "use 0 or more (slices keep when they hold more host pixels than this).",
        )
    counts = label_pixel_counts(label_array, host_labels)
    return np.flatnonzero(counts > min_pixels).astype(np.int64)


def slice_labels_from_mask(
    label_array: np.ndarray, lesion_labels: Sequence[int], min_pixels: int = 0
) -> np.ndarray:
    """uint8 (k,): 1 where the lesion labels cover more than ``min_pixels`` pixels."""
    if min_pixels < 0:
        raise CoinError(
            f"The minimum number of lesion pixels per slice is {min_pixels}; it cannot be negative.",
            "use 0 or more (a slice counts as abnormal when it holds more lesion pixels than this).",
        )
    return (label_pixel_counts(label_array, lesion_labels) > min_pixels).astype(np.uint8)


def read_label_csv(path: str | os.PathLike[str], n_slices: Mapping[str, int]) -> dict[tuple[str, int], int]:
    """Read image-level slice labels from a CSV with columns ``case, slice, label``.

    Args:
        path: the CSV file (header row required; extra columns are ignored).
        n_slices: number of axial slices of every known case, ``{case_id: K}``.

    Returns:
        ``{(case_id, k): 0 | 1}``. Slices not listed are unlabelled.

    Raises:
        CoinError: naming the file and line for an unknown case, a slice outside [0, K), a label
            other than 0/1, a duplicate (case, slice) or a missing column.
    """
    path = Path(path)
    if not path.is_file():
        raise CoinError(f"Label CSV not found: {path}", "check the path.")
    out: dict[tuple[str, int], int] = {}
    first_line: dict[tuple[str, int], int] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("case", "slice", "label") if c not in header]
        if missing:
            raise CoinError(
                f"{path}: line 1 (header) lacks column(s) {missing}; found {reader.fieldnames}.",
                "the header must be: case,slice,label",
            )
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            case = (row.get("case") or "").strip()
            where = f"{path}: line {line}"
            if case not in n_slices:
                known = ", ".join(sorted(n_slices)[:10])
                raise CoinError(f"{where}: unknown case {case!r}.", f"known cases: {known}")
            k = _parse_int(row.get("slice"), f"{where}: slice")
            if not 0 <= k < int(n_slices[case]):
                raise CoinError(
                    f"{where}: slice {k} is out of range for case {case!r} (it has {n_slices[case]} slices).",
                    "slice is the 0-based axial index in canonical (LPS, inferior->superior) order.",
                )
            y = _parse_int(row.get("label"), f"{where}: label")
            if y not in (0, 1):
                raise CoinError(
                    f"{where}: label must be 0 or 1, got {y}.", "use 1 for abnormal, 0 for normal."
                )
            if (case, k) in out:
                raise CoinError(
                    f"{where}: duplicate entry for case {case!r} slice {k} "
                    f"(first given on line {first_line[(case, k)]}).",
                    "list each slice once.",
                )
            out[(case, k)] = y
            first_line[(case, k)] = line
    return out


def _parse_int(value: str | None, what: str) -> int:
    text = (value or "").strip()
    try:
        f = float(text)
    except ValueError:
        raise CoinError(f"{what} is not a number: {text!r}.") from None
    if not f.is_integer():
        raise CoinError(f"{what} must be an integer, got {text!r}.")
    return int(f)


def labels_for_case(table: Mapping[tuple[str, int], int], case: str, n_slices: int) -> np.ndarray:
    """int8 (K,) labels of one case from a :func:`read_label_csv` table; -1 = unlabelled."""
    out = np.full(int(n_slices), -1, dtype=np.int8)
    for (c, k), y in table.items():
        if c == case:
            out[k] = y
    return out
