"""What a file's first bytes say it is, so that a wrong extension is named as such.

ITK picks its reader by the extension; a NIfTI file named ``.nrrd`` then fails as "damaged". Reading
the magic bytes first lets ``read_volume`` say that the content does not match the extension, and
that an empty or few-byte file is empty or cut short.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

from coin_core.errors import CoinError

#: format name -> the extensions it is stored under
EXTENSIONS = {
    "NIfTI": (".nii",),
    "gzip-compressed NIfTI": (".nii.gz",),
    "NRRD": (".nrrd", ".nhdr"),
    "MetaImage": (".mha", ".mhd"),
    "DICOM": (".dcm", ""),
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg"),
    "TIFF": (".tif", ".tiff"),
}
NIFTI1_HEADER = 348
MIN_IMAGE_BYTES = 16  # shorter than any image header this package reads


def _is_nifti(head: bytes) -> bool:
    if len(head) < 4:
        return False
    for endian in "<>":
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == NIFTI1_HEADER and (len(head) < 348 or head[344:347] in (b"n+1", b"ni1")):
            return True
        if size == 540 and (len(head) < 8 or head[4:7] in (b"n+2", b"ni2")):
            return True
    return False


def detect_format(path: Path) -> str | None:
    """The format the content of ``path`` shows (a key of ``EXTENSIONS``), or None when unknown."""
    with open(path, "rb") as fh:
        head = fh.read(352)
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(352)
        except (OSError, EOFError, zlib.error):
            return None
        return "gzip-compressed NIfTI" if _is_nifti(inner) else None
    if head.startswith(b"NRRD000"):
        return "NRRD"
    if head.lstrip().startswith((b"ObjectType", b"NDims")):
        return "MetaImage"
    if head.startswith(b"\x89PNG"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if _is_nifti(head):
        return "NIfTI"
    with open(path, "rb") as fh:
        fh.seek(128)
        if fh.read(4) == b"DICM":
            return "DICOM"
    return None


def check_content_matches(path: Path, suffix: str, hint: str) -> None:
    """Raise :class:`CoinError` for an empty / few-byte file or one whose content is another format.

    Args:
        path: the file.
        suffix: its (lower-case) image suffix, e.g. ".nii.gz".
        hint: what to give instead (the list of readable formats).
    """
    size = path.stat().st_size
    if size < MIN_IMAGE_BYTES:
        what = "empty (0 bytes)" if size == 0 else f"only {size} byte{'s' if size != 1 else ''} long"
        raise CoinError(
            f"'{path}' is {what}: not an image (an interrupted copy or download, or a placeholder).",
            "copy or export the file again; " + hint,
        )
    found = detect_format(path)
    if found is None or suffix in EXTENSIONS[found]:
        return
    if suffix == ".nhdr" and found == "NRRD":
        return
    right = EXTENSIONS[found][0] or "(DICOM: no extension needed)"
    raise CoinError(
        f"'{path}' is named '{suffix}' but its content is a {found} file: the content does not match "
        "the extension.",
        f"rename it to end with '{right}' (or export it again in the format its name says).",
    )
