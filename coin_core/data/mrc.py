"""A minimal reader of MRC-2014 volume files (the format of the LiTS crop in ``coin data lits117``).

An MRC file is a 1024-byte header (56 little- or big-endian 32-bit words, then 10 text labels of 80
characters), ``nsymbt`` bytes of extended header, then the voxels with the column index fastest:
``nx`` columns, ``ny`` rows, ``nz`` sections. Supported modes: 0 int8, 1 int16, 2 float32,
6 uint16. The header's cell size (words 11-13) divided by ``mx, my, mz`` is the voxel size; when it
is zero (as in the LiTS crop) the voxel size is unknown and the caller must choose one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coin_core.errors import CoinError

HEADER_BYTES = 1024
MODES = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16}


@dataclass(frozen=True)
class MrcVolume:
    """Voxels as stored, shape ``(nz, ny, nx)`` (section, row, column), and the header fields we use."""

    array: np.ndarray
    mode: int
    voxel_size: tuple[float, float, float] | None  # (x, y, z) in Angstrom units of the header, None if 0
    axis_map: tuple[int, int, int]  # mapc, mapr, maps


def read_mrc(data: bytes, name: str | os.PathLike[str] = "MRC file") -> MrcVolume:
    """Parse the bytes of an MRC file.

    Raises:
        CoinError: too short, not an MRC file ("MAP " missing), an unsupported mode, or a data size
            that does not match the header.
    """
    name = str(Path(name))
    if len(data) < HEADER_BYTES:
        raise CoinError(f"{name}: {len(data)} bytes, shorter than an MRC header (1024).", "check the file.")
    if data[208:212] != b"MAP ":
        raise CoinError(f"{name}: not an MRC-2014 file (no 'MAP ' at byte 208).", "check the file.")
    order = "<" if data[212] in (0x44, 0x41) else ">"  # machine stamp: 0x44 0x44 / 0x44 0x41 little-endian
    words = np.frombuffer(data[:224], dtype=f"{order}i4")
    floats = np.frombuffer(data[:224], dtype=f"{order}f4")
    nx, ny, nz, mode = (int(v) for v in words[:4])
    if mode not in MODES:
        raise CoinError(f"{name}: MRC mode {mode} is not supported ({sorted(MODES)}).", "convert the file.")
    if min(nx, ny, nz) <= 0:
        raise CoinError(f"{name}: bad MRC size {nx} x {ny} x {nz}.", "check the file.")
    nsymbt = int(words[23])
    dtype = np.dtype(MODES[mode]).newbyteorder(order)
    start = HEADER_BYTES + nsymbt
    need = nx * ny * nz * dtype.itemsize
    if len(data) - start != need:
        raise CoinError(
            f"{name}: {len(data) - start} data bytes, the header ({nx} x {ny} x {nz}, mode {mode}) "
            f"says {need}.",
            "the file is damaged or truncated.",
        )
    array = np.frombuffer(data, dtype=dtype, count=nx * ny * nz, offset=start).reshape(nz, ny, nx)
    mxyz = [int(v) for v in words[7:10]]
    cell = [float(v) for v in floats[10:13]]
    voxel = None
    if all(c > 0 for c in cell) and all(m > 0 for m in mxyz):
        voxel = tuple(c / m for c, m in zip(cell, mxyz, strict=True))
    axis_map = tuple(int(v) for v in words[16:19])
    return MrcVolume(array.astype(dtype.newbyteorder("=")), mode, voxel, axis_map)  # type: ignore[arg-type]
