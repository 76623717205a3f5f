"""The coded meaning of COIN's segment: one source for the ``.seg.nrrd`` terminology and the DICOM SEG.

COIN marks a finding that the classifier calls abnormal inside a host organ. It is coded with SNOMED CT
as DICOM and 3D Slicer code segments (docs/outputs.md explains the choice):

* category "Morphologically Altered Structure" (SCT 49755003), type "Mass" (SCT 4147007): the finding
  type of DICOM CID 7151 that 3D Slicer's default terminology ("3D Slicer General Anatomy list") holds,
  with its recommended colour, so Slicer shows the standard name and colour;
* the anatomic region: the host organ the model was trained on (``model.json`` ``training_data.host``),
  e.g. "Kidney" (SCT 64033007), from DICOM's anatomic codes; none for an unknown host.

The segment's *name* stays ``lesion`` (``SEGMENT_NAME``): scripts and the Slicer module find it by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from coin_core import __version__

SEGMENT_NAME = "lesion"
CATEGORY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMY_CONTEXT = "Anatomic codes - DICOM master list"
CATEGORY = ("SCT", "49755003", "Morphologically Altered Structure")
FINDING = ("SCT", "4147007", "Mass")
# the recommended display colour of SCT 4147007 "Mass" in Slicer's General Anatomy list (144, 238, 144)
SEGMENT_COLOR = (144 / 255, 238 / 255, 144 / 255)

# host organ name (as in coin data / model.json) -> SNOMED CT anatomic region (DICOM CID 4031)
ANATOMY: dict[str, tuple[str, str, str]] = {
    "kidney": ("SCT", "64033007", "Kidney"),
    "liver": ("SCT", "10200004", "Liver"),
    "spleen": ("SCT", "78961009", "Spleen"),
    "pancreas": ("SCT", "15776009", "Pancreas"),
    "lung": ("SCT", "39607008", "Lung"),
    "brain": ("SCT", "12738006", "Brain"),
    "adrenal gland": ("SCT", "23451007", "Adrenal gland"),
    "prostate": ("SCT", "41216001", "Prostate"),
    "bladder": ("SCT", "89837001", "Urinary bladder"),
    "urinary bladder": ("SCT", "89837001", "Urinary bladder"),
}


@dataclass(frozen=True)
class SegmentCoding:
    """What a COIN segment is: name, SNOMED CT codes, colour, and the algorithm that made it.

    Attributes:
        name: the segment's name and ID ("lesion").
        category, finding: (scheme, value, meaning) of the segmented property category and type.
        anatomy: (scheme, value, meaning) of the host organ, or None.
        color: RGB in [0, 1].
        algorithm_name, algorithm_version: the model that made the mask (DICOM Algorithm Identification).
        edited: the mask was changed by hand after the model made it (DICOM algorithm type SEMIAUTOMATIC).
    """

    name: str = SEGMENT_NAME
    category: tuple[str, str, str] = CATEGORY
    finding: tuple[str, str, str] = FINDING
    anatomy: tuple[str, str, str] | None = None
    color: tuple[float, float, float] = SEGMENT_COLOR
    algorithm_name: str = "COIN"
    algorithm_version: str = __version__  # the coin version when the model is not known
    edited: bool = False

    def terminology(self) -> dict[str, object]:
        """The terminology entry as a slicerio dict (contextName, category, type, anatomic region)."""
        entry: dict[str, object] = {
            "contextName": CATEGORY_CONTEXT,
            "category": list(self.category),
            "type": list(self.finding),
        }
        if self.anatomy is not None:
            entry["anatomicContextName"] = ANATOMY_CONTEXT
            entry["anatomicRegion"] = list(self.anatomy)
        return entry

    def terminology_string(self) -> str:
        """The ``TerminologyEntry`` tag value Slicer stores on a segment (same fields as ``terminology``)."""
        anatomy = "^".join(self.anatomy) if self.anatomy else "^^"
        context = ANATOMY_CONTEXT if self.anatomy else ""
        return (
            f"{CATEGORY_CONTEXT}~{'^'.join(self.category)}~{'^'.join(self.finding)}~^^~{context}~{anatomy}~^^"
        )


def anatomy_code(host: str | None) -> tuple[str, str, str] | None:
    """The SNOMED CT code of a host organ name ('kidney', 'Liver', ...); None when unknown or empty."""
    if not host:
        return None
    return ANATOMY.get(str(host).strip().lower().replace("_", " "))


def coding_for_model(
    card: object | None, model_dir: object | None = None, edited: bool = False
) -> SegmentCoding:
    """The segment coding for masks made by a model.

    Args:
        card: the model's ``ModelCard`` (or None: no anatomy, version unknown).
        model_dir: the model folder; its name becomes part of the algorithm name.
        edited: the mask was edited by hand after the model made it.
    """
    from pathlib import Path

    training = getattr(card, "training_data", None) or {}
    host = training.get("host") if isinstance(training, dict) else None
    name = "COIN"
    if model_dir is not None:
        name = f"COIN {Path(str(model_dir)).expanduser().resolve().name}"
    version = str(getattr(card, "software_version", "") or "")
    created = str(getattr(card, "created", "") or "")
    if created:
        version = f"{version} ({created})" if version else created
    return SegmentCoding(
        anatomy=anatomy_code(host),
        algorithm_name=name[:64],
        algorithm_version=(version or "unknown")[:64],
        edited=edited,
    )
