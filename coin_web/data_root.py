"""File access for the page, confined to one data root given at start.

Every path the browser sends is relative to the root; :meth:`DataRoot.resolve` refuses anything
that would leave it (``..``, absolute paths, symbolic links pointing outside).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coin_core.errors import CoinError

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".ima")
DICOM_PROBE_FILES = 3
# our own outputs are not offered as inputs
OUTPUT_MARKERS = ("_counterfactual.", "_difference.", ".seg.nrrd")


@dataclass(frozen=True)
class Entry:
    """One row of the file picker: ``kind`` is "dir", "volume" or "dicom" (a DICOM series folder)."""

    name: str
    path: str
    kind: str


def is_volume_file(path: Path) -> bool:
    """True for a NIfTI / NRRD / MetaImage file that is not one of the page's own outputs."""
    name = path.name.lower()
    return name.endswith(VOLUME_SUFFIXES) and not any(m in name for m in OUTPUT_MARKERS)


def is_dicom_folder(path: Path, probe: int = DICOM_PROBE_FILES) -> bool:
    """True when the folder directly holds ``.dcm`` / ``.ima`` files, or (suffix-less series) one of
    its first ``probe`` files starts with the DICOM preamble."""
    from coin_core.io.dicom import is_dicom_file

    try:
        files = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")]
    except OSError:
        return False
    if any(p.suffix.lower() in DICOM_SUFFIXES for p in files):
        return True
    return any(is_dicom_file(p) for p in files[:probe])


class DataRoot:
    """The folder the page may read from and write into."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise CoinError(f"The data root {root} is not a folder", "pass an existing folder to --data-root")
        self.root = root.resolve()

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative`` (a path under the root, "" = the root).

        Raises:
            CoinError: the path leaves the data root.
        """
        candidate = (self.root / (relative or ".")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise CoinError(
                f"'{relative}' is outside the data root {self.root}",
                "pick a file inside the data root the server was started with",
            )
        return candidate

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the root (checked to be inside it), with "/" separators."""
        absolute = Path(path).expanduser().resolve()
        if absolute != self.root and self.root not in absolute.parents:
            raise CoinError(f"{path} is outside the data root {self.root}", "use a file inside the data root")
        return absolute.relative_to(self.root).as_posix() if absolute != self.root else ""

    def list(self, relative: str = "") -> list[Entry]:
        """Sub-folders, DICOM series folders and volume files directly inside ``relative``, sorted."""
        folder = self.resolve(relative)
        if not folder.is_dir():
            raise CoinError(f"'{relative}' is not a folder of the data root", "pick a folder from the list")
        entries = []
        for child in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
            if child.name.startswith("."):
                continue
            rel = self.relative(child) if self._inside(child) else None
            if rel is None:
                continue
            if child.is_dir():
                entries.append(Entry(child.name, rel, "dicom" if is_dicom_folder(child) else "dir"))
            elif child.is_file() and is_volume_file(child):
                entries.append(Entry(child.name, rel, "volume"))
        return entries

    def _inside(self, path: Path) -> bool:
        resolved = path.resolve()
        return resolved == self.root or self.root in resolved.parents
