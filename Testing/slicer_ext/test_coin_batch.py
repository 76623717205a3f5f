"""scripts/coin_batch.py end to end under plain Python with slicer-core and the real worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

ROOT = Path(__file__).resolve().parents[2]


def test_the_batch_writes_three_files_per_scan_on_the_scans_grid_and_reports_a_bad_scan(
    an_oblique_ct_file, tmp_path, a_scene
):
    from coin_testkit import make_tiny_model

    from coin_core.io import read_volume

    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "patient1.nrrd").write_bytes(an_oblique_ct_file.read_bytes())
    (scans / "broken.nii.gz").write_bytes(b"not an image")
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "coin_batch.py"), "--model", str(model),
           "--input", str(scans), "--output", str(out), "--device", "cpu", "--all-slices"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "broken.nii.gz: FAILED" in proc.stderr and "patient1.nrrd: done" in proc.stdout
    assert "1 of 2 scans written" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "patient1.seg.nrrd", "patient1_counterfactual.nrrd", "patient1_difference.nrrd",
        "patient1_lesions.csv",
    ]  # fmt: skip
    ct = read_volume(an_oblique_ct_file)
    for name in ("patient1_counterfactual.nrrd", "patient1_difference.nrrd"):
        result = read_volume(out / name)
        assert result.array.shape == ct.array.shape
        assert np.allclose(result.direction, ct.direction) and np.allclose(result.origin, ct.origin)
        assert np.allclose(result.spacing, ct.spacing)
    seg = a_scene.segmentationsLogic.LoadSegmentationFromFile(str(out / "patient1.seg.nrrd"), False, "back")
    assert seg.GetSegmentation().GetNumberOfSegments() == 1
    assert seg.GetSegmentation().GetNthSegment(0).GetName() == "lesion"


def test_dicom_series_folders_get_a_dicom_seg_and_a_lesion_table(an_oblique_ct_file, tmp_path):
    """--dicom-seg: a DICOM series folder gets its SEG; an NRRD scan fails with a message, writes nothing."""
    import csv
    import shutil

    import pydicom
    import slicerio
    from coin_testkit import make_tiny_model
    from dicom_testkit import check_seg_against_source

    from coin_core.infer.lesion_table import measure_lesions
    from coin_core.io import read_volume

    series = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    scans = tmp_path / "scans"
    shutil.copytree(series, scans / "CT5N")
    (scans / "patient1.nrrd").write_bytes(an_oblique_ct_file.read_bytes())
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "coin_batch.py"), "--model", str(model),
           "--input", str(scans), "--output", str(out), "--device", "cpu", "--all-slices",
           "--threshold", "0.07", "--postprocess", "none", "--dicom-seg"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "patient1.nrrd: FAILED: --dicom-seg" in proc.stderr and "CT5N: done" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "CT5N.seg.nrrd", "CT5N_counterfactual.nrrd", "CT5N_difference.nrrd", "CT5N_lesion_seg.dcm",
        "CT5N_lesions.csv",
    ]  # fmt: skip
    mask = np.asarray(slicerio.read_segmentation(str(out / "CT5N.seg.nrrd"))["voxels"]).transpose(2, 1, 0)
    assert mask.any()
    check_seg_against_source(out / "CT5N_lesion_seg.dcm", scans / "CT5N", (mask != 0).astype(np.uint8))
    ct = read_volume(series)
    with open(out / "CT5N_lesions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = measure_lesions(ct.with_array(mask), ct)
    assert [int(r["voxels"]) for r in rows] == [les.voxels for les in expected]


def test_a_box_model_needs_host_masks_and_each_scan_gets_its_own(an_oblique_ct_file, tmp_path):
    """--host-mask FOLDER: each scan finds NAME.nii.gz there, one without is reported; none given: refused."""
    from coin_testkit import add_host_box, make_tiny_model
    from host_organ_kit import organ_masks

    from coin_core.infer.segment import host_slice_filter
    from coin_core.infer.views import canonical_view
    from coin_core.io import read_volume, write_volume

    scans, labels = tmp_path / "scans", tmp_path / "labels"
    scans.mkdir()
    labels.mkdir()
    for name in ("patient1_0000.nrrd", "patient2.nrrd"):  # an nnU-Net image name finds NAME.nii.gz too
        (scans / name).write_bytes(an_oblique_ct_file.read_bytes())
    ct, masks = read_volume(an_oblique_ct_file), organ_masks(an_oblique_ct_file)
    organs = 2 * masks["kidney_left"] + 3 * masks["kidney_right"] + 5 * masks["liver"]
    write_volume(ct.with_array(organs.astype(np.uint8)), labels / "patient1.nii.gz")
    model = add_host_box(make_tiny_model(tmp_path / "model"))
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "scripts" / "coin_batch.py"), "--model", str(model),
           "--input", str(scans), "--output", str(out), "--device", "cpu", "--all-slices"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "108 x 216 mm box around the host organ" in refused.stderr and "--host-mask" in refused.stderr
    assert not out.exists()
    proc = subprocess.run(
        [*cmd, "--host-mask", str(labels), "--host-labels", "2,3"], capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "patient2.nrrd: FAILED: --host-mask: no host-organ label map" in proc.stderr
    assert str(labels / "patient2.nii.gz") in proc.stderr and "patient1_0000.nrrd: done" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "patient1_0000.seg.nrrd", "patient1_0000_counterfactual.nrrd", "patient1_0000_difference.nrrd",
        "patient1_0000_lesions.csv",
    ]  # fmt: skip
    # the box model changed only slices holding labels 2 and 3 (not the liver's 5): the rest is the input
    difference = read_volume(out / "patient1_0000_difference.nrrd")
    host = host_slice_filter(ct, ct.with_array(organs.astype(np.uint8)), [2, 3])
    liver_only = host_slice_filter(ct, ct.with_array(organs.astype(np.uint8)), [5]) & ~host
    changed = canonical_view(difference.array, difference.direction).reshape(len(host), -1).any(axis=1)
    assert changed.any() and not changed[~host].any() and liver_only.any()


def test_the_cards_margin_grows_every_scans_mask_and_each_line_names_it(
    an_oblique_ct_file, tmp_path, a_scene
):
    """No --margin-mm: the card's; --margin-mm 0: the paper's mask; a bad value: refused before any scan."""
    import shutil

    from coin_testkit import make_tiny_model

    from coin_core.infer import threshold_difference
    from coin_core.io import read_volume
    from coin_core.modelfile import threshold_source, write_threshold

    scans = tmp_path / "scans"
    scans.mkdir()
    shutil.copy(an_oblique_ct_file, scans / "patient1.nrrd")
    model = make_tiny_model(tmp_path / "model")
    write_threshold(model, 0.05, threshold_source("val", "paper", 0.2, 8), margin_mm=3.0)
    cmd = [sys.executable, str(ROOT / "scripts" / "coin_batch.py"), "--model", str(model),
           "--input", str(scans), "--device", "cpu", "--all-slices"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    ct = a_scene.load(an_oblique_ct_file)
    masks = {}
    for label, extra, margin in (("card", [], 3.0), ("zero", ["--margin-mm", "0"], 0.0)):
        out = tmp_path / label
        proc = subprocess.run([*cmd, "--output", str(out), *extra], capture_output=True, text=True,
                              timeout=300, env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        seg = a_scene.segmentationsLogic.LoadSegmentationFromFile(
            str(out / "patient1.seg.nrrd"), False, label
        )
        mask = a_scene.segmentArray(seg, seg.GetSegmentation().GetNthSegmentID(0), ct) > 0
        difference = read_volume(out / "patient1_difference.nrrd")
        expected = threshold_difference(difference, 0.05, "paper", margin_mm=margin).array > 0
        assert np.array_equal(mask, expected)
        used = (
            f"threshold 0.05, post-processing 'paper', margin {margin:g} mm: {int(mask.sum())} lesion voxels"
        )
        assert "patient1.nrrd: done in " in proc.stdout and f"({used})" in proc.stdout
        masks[label] = mask
    assert masks["zero"].any() and masks["card"].sum() > masks["zero"].sum()
    bad = [*cmd, "--output", str(tmp_path / "bad"), "--margin-mm", "30"]
    refused = subprocess.run(bad, capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "coin_batch: error: --margin-mm: Mask margin 30" in refused.stderr
    assert "is outside [0, 20] mm. What to do: " in refused.stderr
    assert not (tmp_path / "bad").exists()
