"""The page state: plain dataclasses that trame's ``TypedState`` mirrors into the browser."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from coin_core.infer.postprocess import DEFAULT_MARGIN_MM, DEFAULT_THRESHOLD


class Overlay(str, enum.Enum):
    """What the slice views show behind the segmentation."""

    IMAGE = "image"
    COUNTERFACTUAL = "counterfactual"
    DIFFERENCE = "difference"


class Effect(str, enum.Enum):
    """Segment editor tools offered on the page."""

    NONE = "none"
    PAINT = "paint"
    ERASE = "erase"
    ISLANDS = "islands"


@dataclass
class FileEntryState:
    """One row of the file picker."""

    name: str = ""
    path: str = ""
    kind: str = "volume"


@dataclass
class FilesState:
    """The file picker: the folder being browsed (relative to the data root) and its entries."""

    folder: str = ""
    entries: list[FileEntryState] = field(default_factory=list)
    volume_path: str = ""
    loading: bool = False


@dataclass
class ModelEntryState:
    """One model of the model list."""

    title: str = ""
    value: str = ""


@dataclass
class RunState:
    """The model run: choices, the state machine's label and the progress bar."""

    models: list[ModelEntryState] = field(default_factory=list)
    model_folder: str = ""
    screening: bool = True
    status: str = "Idle"
    running: bool = False
    progress: float = 0.0
    progress_text: str = ""


@dataclass
class HostLabelState:
    """One label of the host-organ label map."""

    title: str = ""
    value: int = 0


@dataclass
class HostState:
    """The host organ: a label map of the CT (path relative to the data root) and the chosen labels.

    ``required`` says why the chosen model cannot run without it ("" when it can)."""

    path: str = ""
    labels: list[HostLabelState] = field(default_factory=list)
    selected: list[int] = field(default_factory=list)
    loading: bool = False
    required: str = ""


@dataclass
class LesionRowState:
    """One row of the lesion table (numbers formatted for display; coin_core.infer.lesion_table)."""

    lesion: int = 0
    voxels: int = 0
    volume_ml: str = ""
    diameter_mm: str = ""
    mean_hu: str = ""
    max_hu: str = ""
    slices: str = ""
    center_ras: str = ""


@dataclass
class ReviewState:
    """Reviewing a result: threshold, mask margin (mm), which image is shown, the lesion's size and its
    lesion table."""

    has_result: bool = False
    threshold: float = DEFAULT_THRESHOLD
    margin_mm: float = DEFAULT_MARGIN_MM
    overlay: Overlay = Overlay.IMAGE
    voxel_count: int = 0
    volume_ml: float = 0.0
    lesions: list[LesionRowState] = field(default_factory=list)


@dataclass
class EditorState:
    """The segment editor tools."""

    effect: Effect = Effect.NONE
    brush_diameter: float = 5.0
    min_island_size: int = 50
    can_undo: bool = False
    can_redo: bool = False


@dataclass
class SaveState:
    """Saving: ``ask_overwrite`` opens the dialog that lists ``existing`` files."""

    ask_overwrite: bool = False
    existing: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    dicom_available: bool = False  # the CT is a DICOM series: "Save as DICOM SEG" is offered


@dataclass
class MessageState:
    """The banner: ``kind`` is "info", "success" or "error"."""

    text: str = ""
    kind: str = "info"
