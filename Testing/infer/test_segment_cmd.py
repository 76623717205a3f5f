"""`coin segment` end to end: outputs, geometry, worker protocol, overwrite, errors, cancel."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import reorient

from coin_core.io import read_volume, write_volume

ROOT = Path(__file__).resolve().parents[2]
DICOM_CT = (
    Path(__import__("pydicom").__file__).parent
    / "data"
    / "test_files"
    / "dicomdirtests"
    / "98892001"
    / "CT5N"
)
NAMES = (
    "_counterfactual.nii.gz",
    "_difference.nii.gz",
    "_lesion.seg.nrrd",
    "_slices.csv",
    "_overview.png",
    "_lesions.csv",
)


def coin(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "coin_core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def segment(model_dir, inp, out, *extra: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    return coin("segment", "--model", str(model_dir), "--input", str(inp), "--output-dir", str(out), *extra)


def _geometry(path: Path) -> tuple:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection()


def _assert_same_geometry(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    for x, y in zip(a[1:], b[1:], strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def phantom_file(tmp_path_factory, phantom) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("in") / "phantom.nii.gz"
    write_volume(phantom[0], path)
    return path


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory, model_dir, phantom_file):  # noqa: ANN001, ANN201
    """One jsonl run on the phantom, shared by the checks below."""
    out = tmp_path_factory.mktemp("out")
    proc = segment(model_dir, phantom_file, out, "--progress", "jsonl", "--threshold", "0.02", "--all-slices")
    return proc, out


def test_phantom_run_writes_the_six_outputs_and_speaks_the_protocol(phantom_run, phantom_file):
    proc, out = phantom_run
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    for event in lines:
        assert set(event) == {"stage", "done", "total", "message", "metrics", "time"}
    stages = [e["stage"] for e in lines]
    assert stages[0] == "load" and stages[-1] == "done" and "segment" in stages
    seg = [e for e in lines if e["stage"] == "segment"]
    assert seg[-1]["done"] == seg[-1]["total"] == 12 and "eta_s" in seg[0]["metrics"]
    used = lines[-1]["metrics"]  # the done line says which threshold and clean-up made the mask
    assert (used["threshold"], used["postprocess"]) == (0.02, "paper")
    outputs = lines[-1]["metrics"]["outputs"]
    assert set(outputs) == {
        "counterfactual",
        "difference",
        "segmentation",
        "slices_csv",
        "overview",
        "lesions_csv",
    }
    assert sorted(Path(p).name for p in outputs.values()) == sorted("phantom" + n for n in NAMES)
    assert sorted(p.name for p in out.iterdir()) == sorted("phantom" + n for n in NAMES)  # nothing else
    for path in outputs.values():
        assert Path(path).is_absolute() and Path(path).stat().st_size > 0
    ref = _geometry(phantom_file)
    _assert_same_geometry(_geometry(Path(outputs["counterfactual"])), ref)
    _assert_same_geometry(_geometry(Path(outputs["difference"])), ref)
    _assert_same_geometry(_geometry(Path(outputs["segmentation"])), ref)


def test_lesions_csv_measures_the_written_mask_and_is_in_the_done_line(phantom_run, phantom_file):
    from coin_core.infer.lesion_table import COLUMNS
    from coin_core.infer.postprocess import threshold_difference

    proc, out = phantom_run
    with open(out / "phantom_lesions.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    mask = threshold_difference(read_volume(out / "phantom_difference.nii.gz"), 0.02, "paper")
    image = read_volume(phantom_file)
    assert rows and sum(int(r["voxels"]) for r in rows) == int(mask.array.sum())
    voxel_ml = float(np.prod(image.spacing)) / 1000
    for row in rows:
        assert float(row["volume_ml"]) == pytest.approx(int(row["voxels"]) * voxel_ml, abs=1e-3)
    largest = rows[0]
    hu = image.array[mask.array != 0]
    if len(rows) == 1:
        assert float(largest["mean_hu"]) == pytest.approx(float(hu.mean()), abs=1e-2)
    assert float(largest["max_hu"]) <= float(hu.max()) + 1e-3
    done = json.loads(proc.stdout.splitlines()[-1])["metrics"]
    assert [les["voxels"] for les in done["lesions"]] == [int(r["voxels"]) for r in rows]


def test_slices_csv_has_one_row_per_slice(phantom_run):
    _, out = phantom_run
    with open(out / "phantom_slices.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert [int(r["slice"]) for r in rows] == list(range(12))
    assert all(
        0 <= float(r["probability_before"]) <= 1 and 0 <= float(r["probability_after"]) <= 1 for r in rows
    )
    assert all(r["counterfactual"] == "1" for r in rows)  # --all-slices


def test_overview_png_is_an_rgb_picture(phantom_run):
    from PIL import Image

    _, out = phantom_run
    with Image.open(out / "phantom_overview.png") as img:
        assert img.mode == "RGB" and img.width >= 4 * 64 and img.height > 64


def test_seg_nrrd_reads_back_in_slicer_core_as_the_thresholded_difference(
    phantom_run, phantom_file, slicer_scene
):
    import vtk

    from coin_core.infer import threshold_difference

    _, out = phantom_run
    expected = threshold_difference(read_volume(out / "phantom_difference.nii.gz"), 0.02, "paper").array
    assert expected.any()
    slicer, scene, seg_logic, vol_logic = slicer_scene
    ct = vol_logic.AddArchetypeVolume(str(phantom_file), "CT", 0)
    seg = seg_logic.LoadSegmentationFromFile(str(out / "phantom_lesion.seg.nrrd"), False, "COIN")
    segmentation = seg.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    assert segmentation.GetNthSegment(0).GetName() == "lesion"
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(segmentation.GetNthSegmentID(0))
    lab = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(seg, ids, lab, ct)
    assert np.array_equal(slicer.util.arrayFromVolume(lab) != 0, expected != 0)


def test_oblique_anisotropic_nrrd_input_keeps_its_geometry(tmp_path, model_dir, phantom):
    moved = reorient(phantom[0])
    inp = tmp_path / "oblique.nrrd"
    write_volume(moved, inp)
    proc = segment(
        model_dir, inp, tmp_path / "out", "--progress", "none", "--postprocess", "3d", "--threads", "1"
    )
    assert proc.returncode == 0, proc.stderr
    ref = _geometry(inp)
    assert len(set(ref[1])) == 3 and ref[3] != (1, 0, 0, 0, 1, 0, 0, 0, 1)  # anisotropic, oblique
    for name in NAMES[:3]:
        _assert_same_geometry(_geometry(tmp_path / "out" / f"oblique{name}"), ref)
    printed = proc.stdout.split()
    assert len(printed) == 6 and all(Path(p).exists() for p in printed)


def test_dicom_series_folder(tmp_path, model_dir):
    proc = segment(model_dir, DICOM_CT, tmp_path, "--progress", "none", "--all-slices")
    assert proc.returncode == 0, proc.stderr
    dicom = read_volume(DICOM_CT)
    ref = (dicom.array.shape[::-1], dicom.spacing, dicom.origin, dicom.direction)
    for name in NAMES[:3]:
        _assert_same_geometry(_geometry(tmp_path / f"CT5N{name}"), ref)
    cf = read_volume(tmp_path / "CT5N_counterfactual.nii.gz")
    assert cf.array.dtype == dicom.array.dtype


def test_refuses_to_overwrite_without_the_flag(tmp_path, model_dir, phantom_file):
    assert segment(model_dir, phantom_file, tmp_path, "--progress", "none").returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    proc = segment(model_dir, phantom_file, tmp_path, "--progress", "none")
    assert proc.returncode == 2
    assert "already exist" in proc.stderr and "--overwrite" in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert segment(model_dir, phantom_file, tmp_path, "--progress", "none", "--overwrite").returncode == 0
    assert all(p.stat().st_mtime_ns > before[p.name] for p in tmp_path.iterdir())


def _broken_model(kind: str, model_dir: Path, tmp: Path) -> Path:
    import shutil

    if kind == "missing":
        return tmp / "no_such_model"
    bad = tmp / "bad_model"
    if kind == "empty":
        bad.mkdir()
        return bad
    shutil.copytree(model_dir, bad)
    if kind == "corrupt_weights":
        for f in bad.glob("*.safetensors"):
            f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
    elif kind == "corrupt_card":
        (bad / "model.json").write_text('{"format_version": ', encoding="utf-8")
    return bad


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt_weights", "corrupt_card"])
def test_wrong_or_corrupt_model_folder_is_a_clear_error_and_writes_nothing(
    tmp_path, model_dir, phantom_file, kind
):
    model = _broken_model(kind, model_dir, tmp_path)
    out = tmp_path / "out"
    proc = segment(model, phantom_file, out, "--progress", "jsonl")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "coin: error:" in proc.stderr
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["stage"] == "error" and last["message"]
    assert not out.exists() or not any(out.iterdir())


def test_rgb_png_and_2d_image_are_refused(tmp_path, model_dir):
    import SimpleITK as sitk
    from PIL import Image

    png = tmp_path / "photo.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8), "RGB").save(png)
    flat = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((32, 32), np.int16)), str(flat))
    for inp, word in ((png, "RGB"), (flat, "2D")):
        proc = segment(model_dir, inp, tmp_path / "out", "--progress", "none")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and word in proc.stderr
    assert not (tmp_path / "out").exists()


def test_sigterm_cancels_with_exit_130_and_no_files(tmp_path, model_dir):
    from coin_core.data.phantom import make_phantom

    image, _, _ = make_phantom(shape=(400, 32, 32), spacing=(4.0, 4.0, 1.0), noise_hu=0)
    inp = tmp_path / "long.nii.gz"
    write_volume(image, inp)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "coin_core", "segment", "--model", str(model_dir), "--input", str(inp)]
    cmd += ["--output-dir", str(out), "--progress", "jsonl", "--all-slices", "--batch-size", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if json.loads(line)["stage"] == "segment":
                proc.send_signal(signal.SIGTERM)
                break
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    last = json.loads(rest.splitlines()[-1])
    assert last["stage"] == "error" and "Cancelled" in last["message"]
    assert not any(json.loads(x)["stage"] == "done" for x in rest.splitlines())
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_dir_is_a_clear_error(tmp_path, model_dir, phantom_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    proc = segment(model_dir, phantom_file, blocker / "out", "--progress", "none")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--output-dir" in proc.stderr


@pytest.fixture(scope="module")
def a_model_with_a_margin(tmp_path_factory, model_dir):  # noqa: ANN001, ANN201
    """The tiny model with a card whose tuned threshold is 0.02 and tuned margin 4 mm."""
    import shutil

    from coin_core.modelfile import threshold_source, write_threshold

    folder = Path(shutil.copytree(model_dir, tmp_path_factory.mktemp("margin") / "tiny_margin"))
    write_threshold(folder, 0.02, threshold_source("val", "paper", 0.1, 8), margin_mm=4.0)
    return folder


def test_the_cards_margin_grows_the_mask_and_margin_0_gives_the_papers_mask(
    tmp_path, a_model_with_a_margin, phantom_file
):
    from coin_core.infer.postprocess import threshold_difference

    runs = {}
    for label, extra in (("card", ()), ("zero", ("--margin-mm", "0"))):
        out = tmp_path / label
        proc = segment(
            a_model_with_a_margin, phantom_file, out, "--progress", "jsonl", "--all-slices", *extra
        )
        assert proc.returncode == 0, proc.stderr
        used = json.loads(proc.stdout.splitlines()[-1])["metrics"]
        difference = read_volume(out / "phantom_difference.nii.gz")
        written = read_volume(out / "phantom_lesion.seg.nrrd").array != 0
        runs[label] = (used, difference, written)
        progress = [
            e["message"] for e in map(json.loads, proc.stdout.splitlines()) if e["stage"] == "postprocess"
        ]
        assert f"margin {used['margin_mm']:g} mm" in progress[0]
    (card, diff_card, mask_card), (zero, diff_zero, mask_zero) = runs["card"], runs["zero"]
    assert (card["threshold"], card["margin_mm"]) == (0.02, 4.0)  # the card's threshold and margin
    assert (zero["threshold"], zero["margin_mm"]) == (0.02, 0.0)
    assert np.array_equal(diff_card.array, diff_zero.array)  # the same network output, grown differently
    expected = threshold_difference(diff_card, 0.02, "paper", margin_mm=4.0).array != 0
    assert np.array_equal(mask_card, expected)  # exactly the library's re-threshold with the margin
    assert np.array_equal(mask_zero, threshold_difference(diff_zero, 0.02, "paper").array != 0)
    assert mask_zero.any() and mask_card.sum() > mask_zero.sum() and (mask_card >= mask_zero).all()
    assert card["lesion_voxels"] == int(mask_card.sum()) and zero["lesion_voxels"] == int(mask_zero.sum())


def test_the_summary_line_names_the_margin_used(tmp_path, a_model_with_a_margin, phantom_file):
    proc = segment(a_model_with_a_margin, phantom_file, tmp_path, "--progress", "text", "--margin-mm", "2.5")
    assert proc.returncode == 0, proc.stderr
    assert "at threshold 0.02, margin 2.5 mm (post-processing 'paper')." in proc.stderr


@pytest.mark.parametrize("value", ["-1", "25", "nan"])
def test_an_implausible_margin_is_one_clear_error_before_anything_runs(
    tmp_path, model_dir, phantom_file, value
):
    out = tmp_path / "out"
    proc = segment(model_dir, phantom_file, out, "--progress", "jsonl", "--margin-mm", value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "coin: error: Mask margin" in proc.stderr and "is outside [0, 20] mm" in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["stage"] for e in lines] == ["error"]  # refused before the CT was read
    assert not out.exists() or not any(out.iterdir())
