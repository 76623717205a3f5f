"""Splits by case and by disjoint contiguous slice blocks with gaps."""

from __future__ import annotations

import pytest

from coin_core.data.splits import contiguous_runs, split_cases, split_slice_blocks
from coin_core.errors import CoinError


def test_split_cases_is_a_seeded_partition():
    ids = [f"case_{i:02d}" for i in range(10)]
    s = split_cases(ids, (0.6, 0.2, 0.2), seed=3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(s["train"] + s["val"] + s["test"]) == ids
    assert split_cases(list(reversed(ids)), seed=3) == s  # input order does not matter
    assert any(split_cases(ids, seed=k) != s for k in range(4, 8))


def test_split_cases_gives_every_split_a_case_or_fails():
    s = split_cases(["a", "b", "c"], (0.8, 0.1, 0.1), seed=0)
    assert all(len(v) == 1 for v in s.values())
    with pytest.raises(CoinError, match="2 case"):
        split_cases(["a", "b"], (0.6, 0.2, 0.2))
    with pytest.raises(CoinError, match="sum to 1"):
        split_cases(["a", "b", "c"], (0.6, 0.2, 0.3))


def _check_blocks(out, gap, names=("train", "val", "test")):
    prev_last = None
    for name in names:
        block = out[name]
        if not block:
            continue
        assert block == list(range(block[0], block[-1] + 1)), f"{name} is not contiguous"
        if prev_last is not None:
            assert block[0] - prev_last - 1 >= gap, "blocks closer than the gap"
        prev_last = block[-1]


def test_slice_blocks_are_disjoint_contiguous_and_gapped():
    out = split_slice_blocks(range(26), (0.6, 0.2, 0.2), gap=1)
    _check_blocks(out, gap=1)
    sizes = [len(out[k]) for k in ("train", "val", "test")]
    assert sum(sizes) == 26 - 2 and sizes == [14, 5, 5]
    assert out["train"][0] == 0 and out["test"][-1] == 25
    out3 = split_slice_blocks(range(26), gap=3)
    _check_blocks(out3, gap=3)
    assert sum(len(v) for v in out3.values()) == 26 - 6


def test_slice_blocks_follow_usable_indices_with_holes():
    usable = [3, 4, 5, 6, 7, 9, 10, 11, 12, 20, 21, 22, 23]
    out = split_slice_blocks(reversed(usable), (0.5, 0.25, 0.25), gap=1)
    all_idx = out["train"] + out["val"] + out["test"]
    assert set(all_idx) <= set(usable) and len(set(all_idx)) == len(all_idx)
    assert max(out["train"]) < min(out["val"]) and max(out["val"]) < min(out["test"])
    # the gap is at least one usable slice between blocks
    for a, b in (("train", "val"), ("val", "test")):
        between = [k for k in usable if max(out[a]) < k < min(out[b])]
        assert len(between) >= 1


def test_slice_blocks_zero_fraction_and_custom_order():
    out = split_slice_blocks(range(10), (0.0, 0.5, 0.5), gap=0, names=("val", "train", "test"))
    assert out["val"] == [] and out["train"] == [0, 1, 2, 3, 4] and out["test"] == [5, 6, 7, 8, 9]


def test_slice_blocks_too_few_slices():
    assert sum(map(len, split_slice_blocks(range(5), gap=1).values())) == 3
    with pytest.raises(CoinError, match="4 usable slice"):
        split_slice_blocks(range(4), gap=1)
    with pytest.raises(CoinError, match="duplicate"):
        split_slice_blocks([1, 1, 2, 3, 4, 5])
    with pytest.raises(CoinError, match="gap"):
        split_slice_blocks(range(10), gap=-1)


def test_contiguous_runs():
    assert contiguous_runs([5, 1, 2, 3, 7, 8]) == [[1, 3], [5, 5], [7, 8]]
    assert contiguous_runs([]) == []
