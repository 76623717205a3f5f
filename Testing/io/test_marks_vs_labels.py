"""benchmarks/marks_vs_labels.py on small NIfTI volumes written in code: the counts it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_marked_voxels_are_counted_per_label(tmp_path):
    from coin_core.io import Volume, write_volume

    ct = np.full((4, 8, 8), 40, np.int16)
    labels = np.zeros((4, 8, 8), np.uint8)
    labels[1:3, 2:6, 2:6] = 1  # 32 voxels
    labels[3, 0, 0] = 4
    ct[3, 0, 0] = 10
    marked = np.zeros((4, 8, 8), np.uint8)
    marked[2, 4:7, 4:7] = 1  # 9 voxels, 4 of them on label 1
    paths = []
    for name, arr in (("ct", ct), ("labels", labels), ("mask", marked)):
        paths.append(tmp_path / f"{name}.nii.gz")
        write_volume(Volume(arr, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), paths[-1])
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "marks_vs_labels.py"), "--ct", str(paths[0]),
         "--labels", str(paths[1]), "--mask", str(paths[2])],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "marked voxels 9 on k 2–2" in out
    assert "label 1: 32 voxels, mean 40.0 HU, k 1–2, marked voxels on it 4" in out
    assert "label 4: 1 voxels, mean 10.0 HU, k 3–3, marked voxels on it 0" in out
