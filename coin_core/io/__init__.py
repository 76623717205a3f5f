"""CT volume input / output (SimpleITK): NIfTI, NRRD, MetaImage and DICOM series.

See docs/internals.md ("Volumes") for the contract. SimpleITK is imported lazily, inside the
functions that read or write, so importing this package stays light.
"""

from coin_core.io.dicom import DicomSeriesInfo, list_dicom_series
from coin_core.io.orient import from_canonical, to_canonical
from coin_core.io.reader import read_volume
from coin_core.io.volume import Volume, write_volume

__all__ = [
    "DicomSeriesInfo",
    "Volume",
    "from_canonical",
    "list_dicom_series",
    "read_volume",
    "to_canonical",
    "write_volume",
]
