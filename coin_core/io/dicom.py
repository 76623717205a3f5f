"""DICOM series: discovery in a folder and reading one series as a :class:`Volume`.

Slices are ordered by their position along the slice normal (GDCM's ordering, checked here and
redone if needed); the orientation (oblique included) comes from ImageOrientationPatient; GDCM
applies RescaleSlope / RescaleIntercept, so CT values come out in HU. Slices that do not form one
regular 3D grid (mixed sizes, changing orientation, duplicate positions, missing slices, gantry
tilt) raise :class:`CoinError` rather than giving a silently wrong geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError
from coin_core.io.volume import Volume, _as_3d_scalar, _sitk_reason, quiet_itk_warnings

if TYPE_CHECKING:
    import SimpleITK as sitk

# gaps may differ from their median by this fraction (rounded positions, table jitter)
GAP_TOLERANCE = 0.2
# orientation cosines of all slices must agree to this
ORIENTATION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class DicomSeriesInfo:
    """One DICOM series found in a folder.

    Attributes:
        uid: SeriesInstanceUID (pass it as ``series_uid`` / ``--series-uid``).
        description: SeriesDescription ('' when absent).
        modality: Modality, e.g. 'CT' ('' when absent).
        n_files: number of files of the series in the folder.
        size: (columns, rows, files) = the (i, j, k) size of the volume it would give.
    """

    uid: str
    description: str
    modality: str
    n_files: int
    size: tuple[int, int, int]

    def summary(self) -> str:
        desc = self.description or "(no description)"
        return (
            f"{self.uid}  {self.modality or '?'}  '{desc}'  {self.n_files} files  "
            f"{self.size[0]}x{self.size[1]}x{self.size[2]}"
        )


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a file with the DICOM preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _tag(reader: sitk.ImageFileReader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def _try_header(path: Path) -> sitk.ImageFileReader | None:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    reader.LoadPrivateTagsOff()
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None
    return reader


def _scan(folder: Path) -> list[tuple[DicomSeriesInfo, list[tuple[str, sitk.ImageFileReader]]]]:
    """Read every DICOM header directly inside ``folder`` once and group the files by series."""
    groups: dict[str, list[tuple[str, sitk.ImageFileReader]]] = {}
    restore = quiet_itk_warnings()
    try:
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.name.upper().startswith("DICOMDIR"):
                continue
            header = _try_header(path)
            if header is None:
                continue
            groups.setdefault(_tag(header, "0020|000e"), []).append((str(path), header))
    finally:
        restore()
    found = []
    for uid, items in groups.items():
        first = items[0][1]
        size = first.GetSize()
        depth = len(items) if len(items) > 1 else int(size[2])
        info = DicomSeriesInfo(
            uid=uid,
            description=_tag(first, "0008|103e"),
            modality=_tag(first, "0008|0060"),
            n_files=len(items),
            size=(int(size[0]), int(size[1]), depth),
        )
        found.append((info, items))
    found.sort(key=lambda item: (-item[0].n_files, item[0].uid))
    return found


def list_dicom_series(folder: str | os.PathLike[str]) -> list[DicomSeriesInfo]:
    """List the DICOM series directly inside ``folder`` (not its sub-folders).

    Returns:
        One :class:`DicomSeriesInfo` per SeriesInstanceUID, largest series first; empty when the
        folder holds no DICOM files.
    """
    return [info for info, _ in _scan(Path(folder))]


def _no_dicom_error(folder: Path) -> CoinError:
    try:
        entries = sorted(folder.iterdir())
    except OSError as err:
        return CoinError(f"Cannot list the folder '{folder}' ({err}).", "check the folder's permissions.")
    subdirs = [p.name for p in entries if p.is_dir()]
    if not entries:
        return CoinError(
            f"The folder '{folder}' is empty.", "give a folder holding a DICOM series, or a file."
        )
    hint = "give the folder that directly holds the DICOM slice files, or a NIfTI/NRRD/MHA file."
    if subdirs:
        hint += " Sub-folders here: " + ", ".join(subdirs[:8]) + (" ..." if len(subdirs) > 8 else "") + "."
    n_dicom = sum(1 for p in entries if p.is_file() and is_dicom_file(p))
    if n_dicom:
        return CoinError(
            f"No DICOM images found directly inside the folder '{folder}': its {n_dicom} DICOM files "
            "hold no readable pixel data (DICOMDIR, reports, or an image encoding GDCM cannot read).",
            hint,
        )
    return CoinError(f"No DICOM files found directly inside the folder '{folder}'.", hint)


def read_dicom_series(folder: str | os.PathLike[str], series_uid: str | None = None) -> Volume:
    """Read one DICOM series from ``folder`` as a Volume (HU for CT).

    Args:
        folder: folder holding the slice files.
        series_uid: SeriesInstanceUID to read; required when the folder holds several series.

    Raises:
        CoinError: no DICOM, several series and no ``series_uid``, unknown ``series_uid``, or slices
            that do not form one regular 3D grid.
    """
    folder = Path(folder)
    files = dicom_series_files(folder, series_uid)
    return _compact(Volume.from_sitk(read_dicom_slices(files), source=folder))


def dicom_series_files(folder: str | os.PathLike[str], series_uid: str | None = None) -> list[str]:
    """The files of one DICOM series in ``folder``, in the slice order of :func:`read_dicom_series`.

    ``read_dicom_series(folder).array[k]`` holds the pixels of file ``k`` (ordered along the slice
    normal, ascending). Same arguments and errors as :func:`read_dicom_series`.
    """
    folder = Path(folder)
    scanned = _scan(folder)
    series = [info for info, _ in scanned]
    if not series:
        raise _no_dicom_error(folder)
    if series_uid is None:
        if len(series) > 1:
            listing = "\n".join("    " + s.summary() for s in series)
            raise CoinError(
                f"The folder '{folder}' holds {len(series)} DICOM series (UID, modality, description, "
                f"files, size):\n{listing}",
                "pick one with series_uid=... (command line: --series-uid UID), usually the CT series "
                "with the most files.",
            )
        series_uid = series[0].uid
    elif series_uid not in {s.uid for s in series}:
        listing = "\n".join("    " + s.summary() for s in series)
        raise CoinError(
            f"Series UID '{series_uid}' is not in the folder '{folder}'. Series found:\n{listing}",
            "copy one of the UIDs above into --series-uid.",
        )
    items = next(items for info, items in scanned if info.uid == series_uid)
    return _checked_order(items, series_uid)


def _compact(volume: Volume) -> Volume:
    """GDCM returns int32 for rescaled CT; keep int16 when every value fits (halves the memory)."""
    a = volume.array
    if a.dtype == np.int32 and a.size and a.min() >= -32768 and a.max() <= 32767:
        return volume.with_array(a.astype(np.int16))
    return volume


def read_dicom_slices(files: list[str]) -> sitk.Image:
    """Read DICOM files, in the given order, into one image; rescale slope / intercept applied.

    Low-level: no geometry checks (``read_dicom_series`` does them). A single 2D file gives an image
    of size (columns, rows, 1).
    """
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames([str(f) for f in files])
    restore = quiet_itk_warnings()
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise CoinError(
            f"Could not read the DICOM slices in '{Path(files[0]).parent}' ({_sitk_reason(err)}).",
            "the files may be damaged, lack pixel data (e.g. DICOMDIR-only exports) or use a compression "
            "GDCM cannot decode; re-export the series uncompressed.",
        ) from None
    finally:
        restore()


def _checked_order(items: list[tuple[str, sitk.ImageFileReader]], uid: str) -> list[str]:
    """Return the files ordered along the slice normal; raise for slices that are no 3D grid."""
    files = [f for f, _ in items]
    headers = [h for _, h in items]
    where = f"DICOM series {uid} in '{Path(files[0]).parent}'"
    sizes = {tuple(h.GetSize()[:2]) for h in headers}
    if len(sizes) > 1:
        counts = {s: sum(tuple(h.GetSize()[:2]) == s for h in headers) for s in sizes}
        listing = ", ".join(f"{c}x{r}: {n} files" for (c, r), n in sorted(counts.items()))
        raise CoinError(
            f"The slices of {where} have different sizes ({listing}).",
            "this is not one 3D volume; remove the odd slices (often a scout/localizer) "
            "or re-export the series.",
        )
    if len(files) == 1:
        return files
    if any(h.GetSize()[2] > 1 for h in headers):
        raise CoinError(
            f"{where} mixes multi-frame files ({len(files)} files with several frames each).",
            "give a folder with one multi-frame file, or with single-slice files only.",
        )
    dirs = np.array([h.GetDirection() for h in headers], dtype=float).reshape(len(files), 3, 3)
    if np.abs(dirs - dirs[0]).max() > ORIENTATION_TOLERANCE:
        raise CoinError(
            f"The slices of {where} have different orientations (ImageOrientationPatient changes "
            "from slice to slice, as in a localizer).",
            "pick a series whose slices are all parallel (the axial CT series).",
        )
    spacings = np.array([h.GetSpacing()[:2] for h in headers], dtype=float)
    if np.abs(spacings - spacings[0]).max() > 1e-4 * max(1.0, spacings[0].max()):
        raise CoinError(
            f"The slices of {where} have different pixel spacings "
            f"({sorted({tuple(s) for s in spacings.round(4).tolist()})}).",
            "this is not one 3D volume; re-export the series.",
        )
    normal = dirs[0][:, 2]
    positions = np.array([h.GetOrigin() for h in headers], dtype=float)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    files = [files[i] for i in order]
    along, positions = along[order], positions[order]
    gaps = np.diff(along)
    median = float(np.median(gaps))
    if gaps.min() <= 1e-3 * max(median, 1e-3):
        raise CoinError(
            f"{where} has several slices at the same position (first at {along[np.argmin(gaps)]:.2f} mm "
            "along the normal): it holds more than one volume (time points, echoes or phases).",
            "split the series (e.g. by InstanceNumber / AcquisitionNumber) and give one volume.",
        )
    if np.abs(gaps - median).max() > GAP_TOLERANCE * median:
        raise CoinError(
            f"{where} has uneven slice gaps (from {gaps.min():.3f} to {gaps.max():.3f} mm, median "
            f"{median:.3f} mm): slices are missing or the series mixes several stacks.",
            "re-export the complete series, or resample it onto a regular grid (e.g. in 3D Slicer) "
            "and give the NIfTI/NRRD file.",
        )
    drift = positions - positions[0] - np.outer(along - along[0], normal)
    pixel = float(spacings[0].min())
    if np.linalg.norm(drift, axis=1).max() > 0.5 * pixel:
        raise CoinError(
            f"The slice positions of {where} drift sideways by up to "
            f"{np.linalg.norm(drift, axis=1).max():.2f} mm (gantry tilt or a sheared stack).",
            "convert the series with a tool that corrects gantry tilt (e.g. dcm2niix or 3D Slicer) and "
            "give the NIfTI/NRRD file.",
        )
    return files


def read_dicom_file(path: str | os.PathLike[str]) -> Volume:
    """Read a single DICOM file (a multi-frame 3D file); a single 2D slice raises CoinError."""
    path = Path(path)
    img = read_dicom_slices([str(path)])
    return _compact(Volume.from_sitk(_as_3d_scalar(img, path), source=path))
