"""Time write_volume / read_volume per format on a CT-sized volume (512 x 512 x N, int16).

Usage: .venv/bin/python benchmarks/io_volume.py [--slices 200]
Prints one line per format: write s, read s, file MB; and the NIfTI truncation check alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from coin_core.io import Volume, read_volume, write_volume
from coin_core.io.nifti_check import check_nifti_complete


def ct_like(slices: int) -> Volume:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[-256:256, -256:256]
    body = ((x / 200.0) ** 2 + (y / 150.0) ** 2) < 1
    slice2d = np.where(body, 40, -1000).astype(np.int16)
    array = np.repeat(slice2d[None], slices, axis=0)
    array = array + rng.normal(0, 15, array.shape).astype(np.int16) * body
    return Volume(array, (0.8, 0.8, 1.5), (-200.0, -200.0, -300.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slices", type=int, default=200)
    args = parser.parse_args()
    vol = ct_like(args.slices)
    print(f"volume {vol.array.shape} int16, {vol.array.nbytes / 1e6:.0f} MB in memory")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
            path = Path(tmp) / f"ct{suffix}"
            t0 = time.perf_counter()
            write_volume(vol, path)
            t1 = time.perf_counter()
            back = read_volume(path)
            t2 = time.perf_counter()
            assert np.array_equal(back.array, vol.array)
            size = path.stat().st_size / 1e6
            print(f"{suffix:8s} write {t1 - t0:6.2f} s  read {t2 - t1:6.2f} s  file {size:7.1f} MB")
            if suffix.startswith(".nii"):
                t0 = time.perf_counter()
                check_nifti_complete(path)
                print(f"{'':8s} of which the truncation check: {time.perf_counter() - t0:6.2f} s")


if __name__ == "__main__":
    main()
