"""``coin data radiomics-lungs`` and ``coin data lits117``: pip fetch, MRC reading, geometry checks."""

from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import pytest

from coin_core.data import lits117, radiomics_lungs
from coin_core.data.mrc import read_mrc
from coin_core.data.pipfetch import Release, fetch_release, link_in_output, sha256_bytes
from coin_core.errors import CoinError
from coin_core.io import Volume


def _mrc_bytes(array: np.ndarray, mode: int, cell=(0.0, 0.0, 0.0), order: str = "<") -> bytes:  # noqa: ANN001
    nz, ny, nx = array.shape
    head = np.zeros(56, dtype=f"{order}i4")
    head[:4] = (nx, ny, nz, mode)
    head[7:10] = (nx, ny, nz)
    head[16:19] = (1, 2, 3)
    raw = bytearray(head.tobytes())
    raw[40:52] = np.asarray(cell, dtype=f"{order}f4").tobytes()
    raw[208:212] = b"MAP "
    raw[212:214] = b"DD" if order == "<" else b"\x11\x11"
    raw += bytes(1024 - len(raw))
    dtype = {2: "f4", 6: "u2", 1: "i2"}[mode]
    return bytes(raw) + array.astype(f"{order}{dtype}").tobytes()


def _with_mode(data: bytes, mode: int) -> bytes:
    return data[:12] + mode.to_bytes(4, "little") + data[16:]


@pytest.mark.parametrize("order", ["<", ">"])
def test_mrc_voxels_come_back_in_section_row_column_order(order):
    arr = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 5
    mrc = read_mrc(_mrc_bytes(arr, 2, order=order))
    np.testing.assert_array_equal(mrc.array, arr)
    assert mrc.mode == 2 and mrc.voxel_size is None and mrc.axis_map == (1, 2, 3)
    labels = read_mrc(_mrc_bytes(np.array([[[0, 1], [2, 65535]]]), 6, cell=(4.0, 2.0, 3.0)))
    assert labels.array.dtype == np.uint16 and labels.array.max() == 65535
    assert labels.voxel_size == (2.0, 1.0, 3.0)  # cell size / grid size


@pytest.mark.parametrize(
    "data, match",
    [
        (b"x" * 100, "shorter than an MRC header"),
        (b"\0" * 1100, "not an MRC-2014 file"),
        (_mrc_bytes(np.zeros((2, 2, 2)), 2)[:-4], "the header .* says 32"),
        (_with_mode(_mrc_bytes(np.zeros((2, 2, 2)), 2), 4), "mode 4 is not supported"),
    ],
)
def test_a_bad_mrc_file_gets_one_clear_error(data, match):
    with pytest.raises(CoinError, match=match):
        read_mrc(data, "x.mrc")


def test_the_archive_address_is_taken_from_pips_refusal():
    text = (
        "  WARNING: Requested pyradiomics==3.1.0 from https://files.example/ab/cd/pyradiomics-3.1.0.tar.gz, "
        "but installing version 3.0.1a1\n"
        "Discarding https://files.example/ab/cd/pyradiomics-3.1.0.tar.gz#sha256=00 "
        "(from https://index.example/simple/pyradiomics/): Requested pyradiomics==3.1.0 ...\n"
    )
    proc = subprocess.CompletedProcess([], 1, "", text)
    assert (
        link_in_output(proc, "pyradiomics-3.1.0.tar.gz")
        == "https://files.example/ab/cd/pyradiomics-3.1.0.tar.gz"
    )
    assert link_in_output(subprocess.CompletedProcess([], 1, "no address here", ""), "x.tar.gz") is None


def test_fetch_checks_the_sha256_and_then_uses_the_cache(tmp_path):
    payload = b"release bytes"
    release = Release("pkg==1", "pkg-1.tar.gz", sha256_bytes(payload), 0.1, "sdist")
    calls = []

    def download(tmp, data=payload):  # noqa: ANN001, ANN202
        calls.append(tmp)
        (tmp / "pkg-1.tar.gz").write_bytes(data)
        return tmp / "pkg-1.tar.gz", "", "https://files.example/pkg-1.tar.gz"

    path, link = fetch_release(release, "sdists", download, cache=tmp_path)
    assert path.read_bytes() == payload and link == "https://files.example/pkg-1.tar.gz"
    path, link = fetch_release(release, "sdists", download, cache=tmp_path)
    assert len(calls) == 1 and link == "https://files.example/pkg-1.tar.gz"  # cached, address kept
    path.write_bytes(b"damaged")
    with pytest.raises(CoinError, match="has sha256 .* expected"):
        fetch_release(release, "sdists", lambda tmp: download(tmp, b"other bytes"), cache=tmp_path)
    with pytest.raises(CoinError, match="Could not download pkg==1 .* offline") as err:
        fetch_release(release, "sdists", lambda tmp: (None, "offline", None), cache=tmp_path)
    assert "copy pkg-1.tar.gz" in err.value.hint
    assert not list((tmp_path / "sdists").glob(".download-*"))


def test_offline_pip_gives_an_actionable_error_for_both_fetchers(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(CoinError, match="Could not download liver-ct-segmentation-package==1.6.0"):
        lits117.write_lits117_dataset(tmp_path / "out", cache=tmp_path / "cache")
    with pytest.raises(CoinError, match="Could not download pyradiomics==3.1.0") as err:
        radiomics_lungs.write_radiomics_lungs(tmp_path / "out", cache=tmp_path / "cache")
    assert "pyradiomics @ <that address>" in err.value.hint
    assert not (tmp_path / "out").exists()


def _lits_like(flip_i: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(k, j, i) HU and labels: liver on the patient's right (low i), spine posterior, lungs on top."""
    k, j, i = np.mgrid[:32, :32, :32]
    hu = np.full((32, 32, 32), 40.0, np.float32)
    lab = np.zeros((32, 32, 32), np.uint8)
    lab[(i < 12) & (j < 20)] = 1
    lab[(i < 6) & (j < 6) & (k > 10) & (k < 14)] = 2
    hu[(j > 24) & (abs(i - 16) < 4)] = 500.0
    hu[(k >= 26) & (j < 10)] = -800.0
    if flip_i:
        return hu[:, :, ::-1].copy(), lab[:, :, ::-1].copy()
    return hu, lab


def test_the_lits_anatomy_check_refuses_a_mirrored_crop():
    hu, lab = _lits_like()
    found = lits117.check_anatomy(hu, lab)
    assert found["liver_centre_i"] < 16 and found["bone_centre_j"] > 16
    with pytest.raises(CoinError, match="axis order"):
        lits117.check_anatomy(*_lits_like(flip_i=True))
    # the stored MRC order (p, q, r) = (x, y, z) becomes (k, j, i)
    stored = np.arange(24).reshape(2, 3, 4)
    assert lits117.to_lps_kji(stored)[3, 2, 1] == stored[1, 2, 3]


def test_lits_read_case_checks_the_wheel_content(tmp_path):
    hu, lab = _lits_like()
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(lits117.MEMBERS["image"], _mrc_bytes(hu.transpose(2, 1, 0), 2))
        z.writestr(lits117.MEMBERS["label"], _mrc_bytes(lab.transpose(2, 1, 0), 6))
    with pytest.raises(CoinError, match=r"shape \(32, 32, 32\).*expected \(128, 128, 128\)"):
        lits117.read_case(wheel)


def test_radiomics_case_checks_name_what_is_wrong():
    shape = (4, 8, 8)
    image = Volume(np.full(shape, -1000, np.int16), (1.0, 1.0, 5.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    label = image.with_array(np.zeros(shape, np.uint8))
    with pytest.raises(CoinError, match="lung1 is not the expected one: shape .*expected") as err:
        radiomics_lungs.check_case("lung1", image, label)
    assert "do not look like HU" in str(err.value) and "tumour on 0 slices" in str(err.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lits117", "radiomics-lungs"])
def test_fetch_writes_the_real_cases_with_their_geometry(tmp_path, name):
    from coin_core.data.nnunet import read_nnunet
    from coin_core.io import read_volume

    try:
        if name == "lits117":
            lits117.fetch_wheel()
        else:
            radiomics_lungs.fetch_archive()
    except CoinError as err:
        pytest.skip(f"pip cannot reach the package index here: {err.message}")
    write = lits117.write_lits117_dataset if name == "lits117" else radiomics_lungs.write_radiomics_lungs
    out = write(tmp_path / name)
    ds = read_nnunet(out)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["licence"] and meta["source"]["files_sha256"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    if name == "lits117":
        assert ds.labels == {"background": 0, "liver": 1, "liver_tumour": 2}
        image = read_volume(ds.cases[0].image)
        assert image.array.shape == (128, 128, 128) and image.spacing == (1.5, 1.5, 1.5)
        assert "NON-COMMERCIAL" in meta["licence"] and meta["cases"]["lits117"]["tumour_slices"] == 123
        return
    assert [c.id for c in ds.cases] == ["lung1", "lung2"]
    assert meta["cases"]["lung1"] == {"tumour_slices": 3, "tumour_ml": 1.36}
    assert meta["source"]["archive_sha256"] == radiomics_lungs.RELEASE.sha256
    for c in ds.cases:
        image, label = read_volume(c.image), read_volume(c.label)
        assert image.array.shape == radiomics_lungs.EXPECTED[c.id]["shape"] == label.array.shape
        assert image.origin == label.origin and image.direction == label.direction
