"""``read_volume``: one entry point for every input a user can give (image file, DICOM file or folder).

It dispatches to :mod:`coin_core.io.volume` (NIfTI, NRRD, MetaImage) and :mod:`coin_core.io.dicom`;
keeping the dispatcher here lets both of those depend only on the :class:`Volume` type, not on
each other.
"""

from __future__ import annotations

import os
from pathlib import Path

from coin_core.errors import CoinError
from coin_core.io.dicom import is_dicom_file, read_dicom_file, read_dicom_series
from coin_core.io.volume import _FORMATS_HINT, Volume, read_image_file


def read_volume(path: str | os.PathLike[str], series_uid: str | None = None) -> Volume:
    """Read a CT volume from a file or a DICOM series folder.

    Args:
        path: a ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha`` or ``.mhd`` file, a DICOM file
            (multi-frame), or a folder holding DICOM files.
        series_uid: for a folder with several DICOM series, the SeriesInstanceUID to read.

    Returns:
        The volume; DICOM values are rescaled (slope / intercept) to HU.

    Raises:
        CoinError: missing path, unreadable file, 2D / 4D / RGB image, several DICOM series and no
            ``series_uid``, inconsistent DICOM slices.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CoinError(
            f"Input '{path}' does not exist.",
            "check the path (absolute, or relative to the folder you run from); " + _FORMATS_HINT,
        )
    if path.is_dir():
        return read_dicom_series(path, series_uid=series_uid)
    if series_uid is not None:
        raise CoinError(
            f"A series UID ('{series_uid}') was given but '{path}' is a single file, not a DICOM folder.",
            "drop --series-uid, or pass the DICOM folder instead of the file.",
        )
    if is_dicom_file(path):
        return read_dicom_file(path)
    return Volume.from_sitk(read_image_file(path), source=path)
