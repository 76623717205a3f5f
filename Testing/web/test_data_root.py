"""DataRoot: the page reads and writes only inside the folder given at start."""

from __future__ import annotations

import pytest

from coin_core.errors import CoinError
from coin_web.data_root import DataRoot


@pytest.fixture
def a_root(tmp_path):  # noqa: ANN001, ANN201
    root = tmp_path / "root"
    (root / "case1").mkdir(parents=True)
    (root / "case1" / "ct.nii.gz").write_bytes(b"x")
    (root / "case1" / "ct_counterfactual.nii.gz").write_bytes(b"x")
    (root / "case1" / "ct_lesion.seg.nrrd").write_bytes(b"x")
    (root / "case1" / "notes.txt").write_text("x")
    (root / "series").mkdir()
    (root / "series" / "IM0001.dcm").write_bytes(b"x")
    (root / ".hidden.nrrd").write_bytes(b"x")
    (root / "b.nrrd").write_bytes(b"x")
    (tmp_path / "secret.nii.gz").write_bytes(b"x")
    (root / "escape").symlink_to(tmp_path)
    return root


@pytest.mark.parametrize("path", ["..", "../secret.nii.gz", "case1/../../secret.nii.gz", "/etc/passwd"])
def test_paths_that_leave_the_root_are_refused_with_the_root_named(a_root, path):
    with pytest.raises(CoinError) as raised:
        DataRoot(a_root).resolve(path)
    assert "outside the data root" in str(raised.value) and str(a_root) in str(raised.value)


def test_a_symlink_pointing_outside_is_neither_listed_nor_resolved(a_root):
    root = DataRoot(a_root)
    assert "escape" not in [e.name for e in root.list("")]
    with pytest.raises(CoinError):
        root.resolve("escape/secret.nii.gz")


def test_listing_shows_folders_dicom_series_and_volumes_but_not_outputs_or_hidden_files(a_root):
    root = DataRoot(a_root)
    assert [(e.name, e.kind) for e in root.list("")] == [
        ("b.nrrd", "volume"),
        ("case1", "dir"),
        ("series", "dicom"),
    ]
    assert [(e.path, e.kind) for e in root.list("case1")] == [("case1/ct.nii.gz", "volume")]


def test_relative_paths_round_trip_and_a_missing_root_is_a_clear_error(a_root, tmp_path):
    root = DataRoot(a_root)
    assert root.relative(root.resolve("case1/ct.nii.gz")) == "case1/ct.nii.gz"
    assert root.resolve("") == a_root.resolve()
    with pytest.raises(CoinError, match="not a folder"):
        DataRoot(tmp_path / "nope")
