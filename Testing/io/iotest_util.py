"""Reference values computed independently of coin_core (pydicom, Pillow) for the I/O tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def hu(path: Path) -> np.ndarray:
    """Reference HU of one DICOM file with pydicom: pixel_array * slope + intercept."""
    import pydicom

    ds = pydicom.dcmread(path)
    slope = float(ds.get("RescaleSlope", 1.0))
    intercept = float(ds.get("RescaleIntercept", 0.0))
    return ds.pixel_array.astype(np.float64) * slope + intercept


def ipp_iop(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """ImagePositionPatient and ImageOrientationPatient of one file."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return (
        np.array([float(v) for v in ds.ImagePositionPatient]),
        np.array([float(v) for v in ds.ImageOrientationPatient]),
    )


def png_bytes_rgb() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def local_testdata(name: str) -> Path | None:
    """A file of pydicom's test data or of pydicom-data, found locally (never downloaded).

    ``pydicom.data.get_testdata_file`` would try to download missing files (with long retries).
    """
    import pydicom.data

    roots = [Path(pydicom.data.__file__).parent / "test_files"]
    try:
        import data_store  # the pydicom-data package

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    for root in roots:
        if (root / name).is_file():
            return root / name
    return None
