"""Detect truncated NIfTI files, which ITK's NIfTI reader silently pads instead of refusing.

NRRD and MetaImage readers already fail on short data; for NIfTI we compare the bytes present
(streaming through the gzip layer, which also checks the CRC) with the size the header announces.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

from coin_core.errors import CoinError

_CHUNK = 1 << 22


def _needed_bytes(header: bytes) -> int | None:
    """Bytes the file must hold (vox_offset + voxel data) or None when the header is not NIfTI."""
    if len(header) < 4:
        return None
    for endian in "<>":
        size = struct.unpack(endian + "i", header[:4])[0]
        if size == 348 and len(header) >= 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            vox_offset = int(struct.unpack(endian + "f", header[108:112])[0])
            break
        if size == 540 and len(header) >= 540:
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            vox_offset = struct.unpack(endian + "q", header[168:176])[0]
            break
    else:
        return None
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return None
    count = 1
    for d in dims[1 : ndim + 1]:
        count *= max(int(d), 1)
    return max(vox_offset, 348) + count * bitpix // 8


def check_nifti_complete(path: Path) -> None:
    """Raise CoinError if the NIfTI file ``path`` is shorter than its header says or its gzip is damaged."""
    compressed = path.name.lower().endswith(".gz")
    opener = gzip.open if compressed else open
    total = 0
    try:
        with opener(path, "rb") as fh:
            header = fh.read(540)
            total = len(header)
            if len(header) < 348:
                raise CoinError(
                    f"Could not read '{path}': it holds {len(header)} bytes"
                    f"{' after decompression' if compressed else ''}, fewer than a NIfTI header (348).",
                    "the file is empty or was not copied completely; copy or export it again.",
                )
            needed = _needed_bytes(header)
            if needed is None:
                return  # not a NIfTI header we understand: leave it to SimpleITK
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
    except (EOFError, OSError, zlib.error) as err:
        raise CoinError(
            f"Could not read '{path}': the file is damaged (compressed data cut short or corrupt: {err}).",
            "the file was probably not copied completely; copy or export it again.",
        ) from None
    if total < needed:
        raise CoinError(
            f"Could not read '{path}': the file is truncated (it holds {total} bytes, its header "
            f"announces {needed}).",
            "the file was probably not copied completely; copy or export it again.",
        )


_FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 / float64


def count_nonfinite(path: Path) -> int:
    """Voxels of a float NIfTI file that are NaN or infinite, read from the file itself.

    ITK's NIfTI reader turns them into 0 without a word, so a check on the array read cannot see
    them. Integer files and files that are not NIfTI give 0.
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    import numpy as np

    with opener(path, "rb") as fh:
        header = fh.read(540)
        if len(header) < 348:
            return 0
        for endian in "<>":
            size = struct.unpack(endian + "i", header[:4])[0]
            if size == 348:
                datatype = struct.unpack(endian + "h", header[70:72])[0]
                offset = int(struct.unpack(endian + "f", header[108:112])[0])
                break
            if size == 540 and len(header) >= 540:
                datatype = struct.unpack(endian + "h", header[12:14])[0]
                offset = struct.unpack(endian + "q", header[168:176])[0]
                break
        else:
            return 0
        if datatype not in _FLOAT_TYPES:
            return 0
        dtype = np.dtype(endian + _FLOAT_TYPES[datatype])
        fh.seek(max(offset, 348))
        count, rest = 0, b""
        while chunk := fh.read(_CHUNK):
            chunk = rest + chunk
            usable = len(chunk) - len(chunk) % dtype.itemsize
            values = np.frombuffer(chunk[:usable], dtype=dtype)
            count += int(values.size - np.count_nonzero(np.isfinite(values)))
            rest = chunk[usable:]
    return count
