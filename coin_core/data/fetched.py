"""Write a data set fetched from a release file as an nnU-Net raw dataset: the frame the fetchers share.

``coin data radiomics-lungs`` and ``coin data lits117`` do the same around their own conversion: refuse a
non-empty output folder before any download, take the release file from the cache (:mod:`coin_core.data.
pipfetch`, by sha256), let the fetcher convert it into a temporary sibling folder, write ``dataset.json``
with the licence, the source (package, the address pip used where recorded, sha256 of the release file and
of every file read from it) and the fetcher's further entries, then rename the folder into place, so the
output never holds a half-written dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coin_core.progress import ProgressCallback, ProgressEvent, report


@dataclass(frozen=True)
class FetchedSource:
    """What a fetcher writes into dataset.json about where its data came from.

    Attributes:
        name: dataset.json "name".
        labels: label name -> id.
        description: dataset.json "description".
        licence: dataset.json "licence".
        package: "source"."package" (requirement and the release file's kind and name).
        file_key: the key of the release file's sha256 under "source" ("wheel_sha256", "archive_sha256").
        record_address: write "source"."downloaded_from" (the address pip used, or null).
    """

    name: str
    labels: dict[str, int]
    description: str
    licence: str
    package: str
    file_key: str
    record_address: bool = False


@dataclass
class Converted:
    """What a fetcher's conversion wrote: cases, per-file sha256, further dataset.json entries."""

    n_cases: int
    files_sha256: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)


def write_fetched_dataset(
    out: str | os.PathLike[str],
    source: FetchedSource,
    fetch: Callable[[], tuple[Path, str | None]],
    convert: Callable[[Path, Path], Converted],
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> Path:
    """Fetch, convert into a temporary folder, write dataset.json, rename into ``out``; return ``out``.

    Args:
        out: output folder; must be absent or empty unless ``overwrite``.
        source: the dataset.json facts of the fetched data.
        fetch: ``fetch() -> (release file, address pip used or None)``, from the cache or downloaded.
        convert: ``convert(release file, tmp)`` writes the cases into ``tmp`` (nnU-Net layout) and
            reports its own "write" events.
        overwrite: replace an existing non-empty ``out``.
        progress: the final "write" event.
    """
    from coin_core.data.benchmark_build import check_out_folder, write_folder_atomically
    from coin_core.data.nnunet import write_dataset_json
    from coin_core.data.pipfetch import sha256_file

    out = Path(out)
    check_out_folder(out, overwrite)
    release, address = fetch()

    def fill(tmp: Path) -> None:
        done = convert(release, tmp)
        src: dict[str, Any] = {"package": source.package}
        if source.record_address:
            src["downloaded_from"] = address
        src[source.file_key] = sha256_file(release)
        src["files_sha256"] = done.files_sha256
        write_dataset_json(
            tmp,
            source.labels,
            num_training=done.n_cases,
            name=source.name,
            extra={"description": source.description, "licence": source.licence, "source": src, **done.extra},
        )
        report(progress, ProgressEvent("write", done.n_cases, done.n_cases, f"wrote {out}"))

    write_folder_atomically(out, fill)
    return out
