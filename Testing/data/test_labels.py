"""Slice filtering by host-organ pixels, slice labels from label maps and from a CSV."""

from __future__ import annotations

import numpy as np
import pytest

from coin_core.data.labels import (
    filter_slices,
    label_pixel_counts,
    labels_for_case,
    read_label_csv,
    slice_labels_from_mask,
)
from coin_core.data.phantom import make_phantom
from coin_core.errors import CoinError


def test_filter_uses_strictly_more_than_min_pixels():
    lab = np.zeros((4, 8, 8), np.uint8)
    lab[0, :1, :5] = 1  # 5 px
    lab[1, :1, :6] = 1  # 6 px
    lab[3, :2, :4] = 2  # 8 px of another organ
    lab[3, 7, :3] = 1  # 3 px
    np.testing.assert_array_equal(label_pixel_counts(lab, [1]), [5, 6, 0, 3])
    np.testing.assert_array_equal(filter_slices(lab, [1], min_pixels=5), [1])
    np.testing.assert_array_equal(filter_slices(lab, [1, 2], min_pixels=5), [1, 3])
    np.testing.assert_array_equal(filter_slices(lab, [1], min_pixels=0), [0, 1, 3])


def test_filter_on_phantom_keeps_the_kidney_block():
    _, lab, _ = make_phantom(shape=(24, 64, 64), seed=0)
    keep = filter_slices(lab.array, [1], min_pixels=20)
    assert len(keep) > 5
    assert np.all(np.diff(keep) == 1)  # one contiguous block (the kidneys are ellipsoids)
    assert keep[0] == 0  # the kidneys reach the lower edge, like the real CT
    counts = (lab.array == 1).sum(axis=(1, 2))
    assert np.all(counts[keep] > 20)
    assert np.all(np.delete(counts, keep) <= 20)


def test_slice_labels_from_lesion_label():
    _, lab, les = make_phantom(shape=(24, 64, 64), seed=2, lesions=2, lesion_label=4)
    y = slice_labels_from_mask(lab.array, [4])
    assert y.dtype == np.uint8 and y.shape == (24,)
    np.testing.assert_array_equal(y, les.array.sum(axis=(1, 2)) > 0)
    assert 0 < y.sum() < 24
    big = slice_labels_from_mask(lab.array, [4], min_pixels=10)
    np.testing.assert_array_equal(big, les.array.sum(axis=(1, 2)) > 10)


def _csv(tmp_path, text):
    p = tmp_path / "labels.csv"
    p.write_text(text)
    return p


def test_csv_labels_are_read(tmp_path):
    p = _csv(tmp_path, "case,slice,label,comment\nA,0,1,x\nA,4,0,\nB,2,1,\n")
    table = read_label_csv(p, {"A": 5, "B": 3})
    assert table == {("A", 0): 1, ("A", 4): 0, ("B", 2): 1}
    np.testing.assert_array_equal(labels_for_case(table, "A", 5), [1, -1, -1, -1, 0])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("case,slice,label\nA,0,1\nC,1,0\n", "line 3: unknown case 'C'"),
        ("case,slice,label\nA,5,1\n", "line 2: slice 5 is out of range"),
        ("case,slice,label\nA,-1,1\n", "line 2: slice -1 is out of range"),
        ("case,slice,label\nA,1,2\n", "line 2: label must be 0 or 1, got 2"),
        ("case,slice,label\nA,1,1\nA,2,0\nA,1,0\n", "line 4: duplicate .* slice 1 .*line 2"),
        ("case,slice,label\nA,1.5,1\n", "line 2: slice must be an integer"),
        ("case,slice,label\nA,x,1\n", "line 2: slice is not a number"),
        ("case,k,label\nA,1,1\n", r"header\) lacks column\(s\) \['slice'\]"),
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, match):
    with pytest.raises(CoinError, match=match) as err:
        read_label_csv(_csv(tmp_path, text), {"A": 5})
    assert "labels.csv" in str(err.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(CoinError, match="not found"):
        read_label_csv(tmp_path / "nope.csv", {"A": 5})
