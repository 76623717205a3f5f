"""The :class:`Volume` type and reading / writing volume files.

A :class:`Volume` is a voxel array in numpy order ``(k, j, i)`` = (slice, row, column) plus the
geometry SimpleITK uses: spacing ``(i, j, k)`` in mm, origin in LPS mm and a row-major 3x3 direction
matrix whose columns are the i, j, k axes in LPS. ``read_image_file`` reads NIfTI, NRRD and MetaImage
files (:func:`coin_core.io.reader.read_volume` adds DICOM and is the one to call); ``write_volume``
writes NIfTI, NRRD or MHA atomically with compression. SimpleITK is imported inside the functions
that need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError
from coin_core.fileutil import atomic_path

if TYPE_CHECKING:
    import SimpleITK as sitk

READ_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
_FORMATS_HINT = (
    "give a NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr) or MetaImage (.mha, .mhd) file, "
    "or a folder holding one DICOM series."
)


@dataclass(eq=False)  # numpy arrays have no single truth value; compare fields explicitly
class Volume:
    """A 3D scalar image with its physical geometry (LPS, SimpleITK conventions).

    Attributes:
        array: voxels, shape ``(k, j, i)`` = (slice, row, column); HU for CT.
        spacing: voxel size in mm along ``(i, j, k)``.
        origin: LPS position in mm of the centre of voxel ``(0, 0, 0)``.
        direction: 9 values, row-major 3x3; column ``c`` is the LPS unit vector of axis ``c``.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise ValueError(f"Volume.array must be 3D (k, j, i); got shape {self.array.shape}")
        self.spacing = tuple(float(v) for v in self.spacing)
        self.origin = tuple(float(v) for v in self.origin)
        self.direction = tuple(float(v) for v in self.direction)
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError(
                "Volume needs 3 spacing, 3 origin and 9 direction values; got "
                f"{len(self.spacing)}, {len(self.origin)}, {len(self.direction)}"
            )

    @property
    def direction_matrix(self) -> np.ndarray:
        """The direction as a 3x3 array (columns = i, j, k axes in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    def to_sitk(self) -> sitk.Image:
        """Return a SimpleITK image with this volume's voxels and geometry."""
        import SimpleITK as sitk

        array = self.array
        if array.dtype == bool:
            array = array.astype(np.uint8)
        elif array.dtype == np.float16:
            array = array.astype(np.float32)
        img = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(cls, img: sitk.Image, source: str | os.PathLike[str] | None = None) -> Volume:
        """Build a Volume from a 3D scalar SimpleITK image.

        Args:
            img: the image; a 4D image whose last size is 1 is accepted and squeezed.
            source: file or folder named in error messages.

        Raises:
            CoinError: the image is not a 3D scalar image (2D, 4D, RGB / vector).
        """
        img = _as_3d_scalar(img, source)
        return cls(
            array=_native_array(img),
            spacing=tuple(img.GetSpacing()),
            origin=tuple(img.GetOrigin()),
            direction=tuple(img.GetDirection()),
        )

    def with_array(self, array: np.ndarray) -> Volume:
        """Same geometry, new voxels. ``array`` must have this volume's shape."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise ValueError(f"with_array: shape {array.shape} differs from the volume's {self.array.shape}")
        return Volume(array=array, spacing=self.spacing, origin=self.origin, direction=self.direction)


def _native_array(img: sitk.Image) -> np.ndarray:
    import SimpleITK as sitk

    array = sitk.GetArrayFromImage(img)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


def _as_3d_scalar(img: sitk.Image, source: str | os.PathLike[str] | None) -> sitk.Image:
    """Check that ``img`` is one 3D scalar volume; squeeze a trailing 4th axis of size 1."""
    import SimpleITK as sitk

    where = f"'{source}'" if source is not None else "The image"
    ncomp = img.GetNumberOfComponentsPerPixel()
    if ncomp != 1:
        kind = "an RGB/colour" if ncomp in (3, 4) else "a vector"
        raise CoinError(
            f"{where} is {kind} image ({ncomp} values per voxel, size {img.GetSize()}); "
            "a CT volume has one intensity per voxel.",
            "give a single-channel (greyscale) 3D CT volume, e.g. the original DICOM series or a NIfTI file.",
        )
    size = img.GetSize()
    if img.GetDimension() == 4 and size[3] == 1:
        img = sitk.Extract(img, [size[0], size[1], size[2], 0], [0, 0, 0, 0])
        size = img.GetSize()
    if img.GetDimension() > 3:
        raise CoinError(
            f"{where} is a {img.GetDimension()}D image (size {size}); COIN needs one 3D volume.",
            "extract one time point / channel into its own 3D file (e.g. with SimpleITK or 3D Slicer).",
        )
    if img.GetDimension() < 3 or sum(s > 1 for s in size) < 3:
        raise CoinError(
            f"{where} is a 2D image (size {size}); COIN needs a 3D CT volume with several slices.",
            "give the whole series (for DICOM: the folder holding all slices) or a 3D NIfTI/NRRD file.",
        )
    return img


def quiet_itk_warnings():  # noqa: ANN201
    """ITK prints warnings to stderr; library code stays silent. Returns a callable that restores."""
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    return lambda: sitk.ProcessObject.SetGlobalWarningDisplay(before)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in READ_SUFFIXES:
        if name.endswith(suf):
            return suf
    return path.suffix.lower()


def _sitk_reason(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    detail = [ln for ln in lines if not ln.startswith(("Exception thrown", "sitk::ERROR", "/"))]
    return (detail or lines or ["unknown error"])[-1][:300]


def read_image_file(path: Path) -> sitk.Image:
    """Read a NIfTI / NRRD / MetaImage file with SimpleITK (CoinError when it cannot)."""
    import SimpleITK as sitk

    suffix = _suffix(path)
    if suffix not in READ_SUFFIXES:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            raise CoinError(
                f"'{path}' has an unknown suffix '{suffix or '(none)'}' and is not an image "
                "SimpleITK can read.",
                _FORMATS_HINT,
            ) from None
    if suffix in READ_SUFFIXES:
        from coin_core.io.sniff import check_content_matches

        check_content_matches(path, suffix, _FORMATS_HINT)  # empty files, a NIfTI named .nrrd, ...
    if suffix in (".nii", ".nii.gz"):
        from coin_core.io.nifti_check import check_nifti_complete

        check_nifti_complete(path)  # ITK pads truncated NIfTI data silently
    restore = quiet_itk_warnings()
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise CoinError(
            f"Could not read '{path}': the file is damaged or not a valid image ({_sitk_reason(err)}).",
            "check that the file is complete (re-copy or re-export it); " + _FORMATS_HINT,
        ) from None
    finally:
        restore()


def write_volume(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write ``volume`` atomically; the format follows the suffix (.nii, .nii.gz, .nrrd, .mha).

    Raises:
        CoinError: the suffix is not one of the writable formats, or writing fails.
    """
    import SimpleITK as sitk

    path = Path(path).expanduser()
    name = path.name.lower()
    if not name.endswith(WRITE_SUFFIXES):
        raise CoinError(
            f"Cannot write '{path}': unknown output suffix '{_suffix(path) or '(none)'}'.",
            "end the output name with .nii.gz, .nii, .nrrd or .mha (single-file formats).",
        )
    img = volume.to_sitk()
    try:
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)
    except (RuntimeError, OSError) as err:
        raise CoinError(
            f"Could not write '{path}' ({_sitk_reason(err)}).",
            "check that the folder is writable and the disk is not full.",
        ) from None
