"""``coin export nnunet``: reviewed segmentations (or raw COIN masks) + CTs -> an nnU-Net v2 raw dataset.

Pseudo-labels for a supervised model: each segmentation is paired with its image by name, checked to lie
on the image's grid, and written in the layout nnU-Net v2 documents (``dataset_format.md``)::

    DatasetNNN_Name/
      dataset.json    channel_names {"0": "CT"}, labels {"background": 0, "<name>": 1, ...},
                      numTraining, file_ending ".nii.gz" (+ "coin_export": where each case came from)
      imagesTr/CASE_0000.nii.gz     the CT, in its own geometry
      labelsTr/CASE.nii.gz          integer label map, exactly the image's grid

Pairing: the case of an image is its name without the image suffix (a DICOM folder: the folder's name);
a segmentation belongs to the case whose name equals its own name without the suffix and, if that finds
none, without one of ``_lesion``, ``_segmentation``, ``_seg``, ``_mask``, ``_label``, ``_labels`` (so
``coin segment``'s ``ct_lesion.seg.nrrd`` pairs with ``ct.nii.gz``). Images without a segmentation are
left out (and listed); a segmentation without an image is an error.

Labels: ``.seg.nrrd`` segments are matched by name (``labels`` gives the names and their order: label i
is the i-th name; default: every segment name found, in order of first appearance); where segments
overlap, the later label wins. A plain label image (NIfTI, NRRD, MHA) keeps its values; its labels are
named by ``labels`` in order, or "lesion" for a 0/1 mask.

A segmentation stored on a sub-block of the image grid (3D Slicer crops to the segment's extent when told
to) is placed back into the full grid; any other grid (other spacing, orientation, or a shift that is not
a whole number of voxels) is refused with a message. The dataset is written into a temporary folder and
renamed at the end: it appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report

if TYPE_CHECKING:
    from coin_core.io import Volume

DATASET_NAME = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9][A-Za-z0-9_\-]*)$")
SEG_SUFFIXES = ("_lesion", "_segmentation", "_seg", "_mask", "_labels", "_label")
FILE_ENDING = ".nii.gz"
# grid tolerances: direction cosines, relative spacing, and the fraction of a voxel a shift may be off
DIRECTION_TOL = 1e-4
SPACING_TOL = 1e-4
OFFSET_TOL = 0.01


@dataclass(frozen=True)
class ExportCase:
    """One image and its segmentation."""

    case_id: str
    image: Path
    segmentation: Path


@dataclass
class ExportResult:
    """What :func:`export_nnunet` wrote."""

    root: Path
    cases: list[ExportCase]
    labels: dict[str, int]
    unpaired_images: list[Path] = field(default_factory=list)
    label_voxels: dict[str, int] = field(default_factory=dict)


def _is_seg_nrrd(path: Path) -> bool:
    return path.name.lower().endswith(".seg.nrrd")


def _stem(path: Path) -> str:
    from coin_core.infer.outputs import input_stem

    name = path.name
    if _is_seg_nrrd(path):
        return name[: -len(".seg.nrrd")]
    return input_stem(path)


def _is_dicom_folder(folder: Path) -> bool:
    from coin_core.io.dicom import is_dicom_file

    return any(is_dicom_file(p) for p in folder.iterdir() if p.is_file())


def _expand(paths: list[str | os.PathLike[str]], what: str) -> list[Path]:
    """Files (and DICOM series folders) named by ``paths``; folders are listed one level deep."""
    from coin_core.io.volume import READ_SUFFIXES

    def readable(p: Path) -> bool:
        return p.is_file() and p.name.lower().endswith(READ_SUFFIXES)

    found: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise CoinError(f"The {what} '{raw}' does not exist.", f"check the path given with --{what}.")
        if p.is_file():
            found.append(p)
        elif what == "images" and _is_dicom_folder(p):
            found.append(p)
        else:
            entries = sorted(p.iterdir())
            found += [e for e in entries if readable(e)]
            if what == "images":
                found += [e for e in entries if e.is_dir() and _is_dicom_folder(e)]
    if not found:
        raise CoinError(
            f"No {what} found in {', '.join(str(p) for p in paths)}.",
            "give files (.nii.gz, .nrrd, .seg.nrrd, .mha) or folders holding them"
            + (" (or DICOM series folders)" if what == "images" else "")
            + ".",
        )
    return found


def pair_cases(images: list[Path], segmentations: list[Path]) -> tuple[list[ExportCase], list[Path]]:
    """Pair segmentations with images by name (see the module docstring).

    Returns:
        The cases (in segmentation order) and the images left without a segmentation.
    """
    by_stem: dict[str, Path] = {}
    for image in images:
        stem = _stem(image)
        if stem in by_stem:
            raise CoinError(
                f"Two images have the case name '{stem}': {by_stem[stem]} and {image}.",
                "give each image a unique file name (the case name is the file name without its suffix).",
            )
        by_stem[stem] = image
    cases: list[ExportCase] = []
    used: set[str] = set()
    for seg in segmentations:
        stem = _stem(seg)
        candidates = [stem] + [
            stem[: -len(s)] for s in SEG_SUFFIXES if stem.endswith(s) and len(stem) > len(s)
        ]
        match = next((c for c in candidates if c in by_stem), None)
        if match is None:
            raise CoinError(
                f"No image for the segmentation '{seg}' (looked for the case names {', '.join(candidates)}).",
                "name the segmentation after its image (e.g. ct.nii.gz + ct_lesion.seg.nrrd, as "
                "`coin segment` writes them) and pass the image's file or folder with --images.",
            )
        if match in used:
            raise CoinError(
                f"Two segmentations belong to the case '{match}' (the second is '{seg}').",
                "give one segmentation per image.",
            )
        used.add(match)
        cases.append(ExportCase(_safe_id(match), by_stem[match], seg))
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise CoinError("Two case names become the same nnU-Net case id.", "rename the files apart.")
    unpaired = [img for stem, img in by_stem.items() if stem not in used]
    return cases, unpaired


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]", "_", name)


@dataclass
class _Seg:
    """A segmentation as label masks by name on its own grid."""

    masks: dict[str, np.ndarray]  # name -> bool (k, j, i)
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray  # 3x3, columns i, j, k
    plain: bool  # a plain label image (values are labels), not a .seg.nrrd


def _read_segmentation(path: Path) -> _Seg:
    if _is_seg_nrrd(path):
        import slicerio

        try:
            seg = slicerio.read_segmentation(str(path))
        except Exception as err:  # noqa: BLE001 - slicerio/pynrrd raise many kinds for a damaged file
            raise CoinError(
                f"Could not read the segmentation '{path}': {type(err).__name__}: {str(err)[:200]}",
                "give a .seg.nrrd saved by 3D Slicer or `coin segment`.",
            ) from None
        ijk = np.asarray(seg["ijkToLPS"], dtype=float)
        spacing = np.linalg.norm(ijk[:3, :3], axis=0)
        masks: dict[str, np.ndarray] = {}
        for segment in seg.get("segments", []):
            name = str(segment.get("name") or segment.get("id"))
            mask = np.asarray(slicerio.segment_mask(seg, segment)).transpose(2, 1, 0)
            masks[name] = masks[name] | mask if name in masks else mask
        return _Seg(masks, tuple(spacing), tuple(ijk[:3, 3]), ijk[:3, :3] / spacing[None, :], plain=False)
    from coin_core.io import read_volume

    vol = read_volume(path)
    arr = np.asarray(vol.array)
    if not np.issubdtype(arr.dtype, np.integer) and not np.all(arr == np.round(arr)):
        raise CoinError(
            f"The segmentation '{path}' holds non-integer values: it is not a label map.",
            "give a label map (integer voxels) or a .seg.nrrd.",
        )
    values = [int(v) for v in np.unique(arr) if v != 0]
    if any(v < 0 for v in values):
        raise CoinError(f"The label map '{path}' holds negative labels.", "use labels 1, 2, ...")
    masks = {str(v): arr == v for v in values}
    return _Seg(masks, vol.spacing, vol.origin, vol.direction_matrix, plain=True)


def _place_on_grid(seg: _Seg, image: Volume, case: ExportCase) -> dict[str, np.ndarray]:
    """The segmentation's masks on the image's grid; CoinError when the grids do not fit."""
    where = f"The segmentation '{case.segmentation}' is not on the grid of its image '{case.image}'"
    hint = (
        "export segmentations made on these images (e.g. saved from 3D Slicer with the image as the "
        "segmentation's reference geometry, or written by `coin segment`); resample them onto the image "
        "otherwise."
    )
    if np.abs(seg.direction - image.direction_matrix).max() > DIRECTION_TOL:
        raise CoinError(f"{where}: its orientation differs.", hint)
    spacing = np.asarray(image.spacing)
    if np.abs(np.asarray(seg.spacing) - spacing).max() > SPACING_TOL * max(1.0, spacing.max()):
        raise CoinError(f"{where}: spacing {tuple(round(s, 4) for s in seg.spacing)} mm instead of "
                        f"{tuple(round(s, 4) for s in image.spacing)} mm.", hint)  # fmt: skip
    shift = np.linalg.solve(image.direction_matrix * spacing[None, :], np.asarray(seg.origin) - image.origin)
    offset = np.round(shift).astype(int)
    if np.abs(shift - offset).max() > OFFSET_TOL:
        raise CoinError(
            f"{where}: it is shifted by {np.round(shift, 3).tolist()} voxels (not whole voxels).", hint
        )
    shape = image.array.shape  # (k, j, i)
    placed = {}
    for name, mask in seg.masks.items():
        lo = offset[::-1]  # (k, j, i)
        hi = lo + np.asarray(mask.shape)
        # the part of the stored block inside the image; what lies outside must be empty
        src = tuple(
            slice(max(0, -a), m - max(0, h - n)) for a, h, m, n in zip(lo, hi, mask.shape, shape, strict=True)
        )
        dst = tuple(slice(max(0, a), min(h, n)) for a, h, n in zip(lo, hi, shape, strict=True))
        inside = mask[src]
        if int(inside.sum()) != int(mask.sum()):
            raise CoinError(f"{where}: part of the segment '{name}' lies outside the image.", hint)
        full = np.zeros(shape, dtype=bool)
        if inside.size:
            full[dst] = inside
        placed[name] = full
    return placed


def _label_names(segs: list[_Seg], requested: list[str] | None) -> dict[str, int]:
    if requested:
        names = [n.strip() for n in requested if n.strip()]
        if len({n.lower() for n in names}) != len(names):
            raise CoinError(f"--labels {','.join(names)} names a label twice.", "name each label once.")
        if "background" in (n.lower() for n in names):
            raise CoinError("--labels must not name 'background' (it is label 0).", "leave it out.")
        return {name: i for i, name in enumerate(names, start=1)}
    if all(s.plain for s in segs):
        top = max((int(k) for s in segs for k in s.masks), default=1)
        return {"lesion": 1} if top <= 1 else {f"label_{v}": v for v in range(1, top + 1)}
    if any(s.plain for s in segs):
        raise CoinError(
            "The segmentations mix .seg.nrrd files and plain label maps.",
            "pass --labels NAME1,NAME2 to say which label id each segment name and label value gets.",
        )
    order: list[str] = []
    for s in segs:
        order += [n for n in s.masks if n not in order]
    if not order:
        raise CoinError("The segmentations hold no segment.", "check the files.")
    return {name: i for i, name in enumerate(order, start=1)}


def _label_map(
    seg: _Seg, placed: dict[str, np.ndarray], labels: dict[str, int], case: ExportCase, shape
) -> np.ndarray:  # noqa: ANN001
    """The integer label map; where .seg.nrrd segments overlap, the higher label id wins."""
    out = np.zeros(shape, dtype=np.uint8)
    lower = {name.lower(): value for name, value in labels.items()}
    values = {}
    for key in placed:
        if seg.plain:
            value = int(key)
            if value not in labels.values():
                raise CoinError(
                    f"The label map '{case.segmentation}' holds the value {value}, which no label names "
                    f"(labels: {labels}).",
                    "pass --labels with one name per label value (value i = the i-th name).",
                )
            values[key] = value
        elif key.lower() in lower:  # segments not asked for are left out
            values[key] = lower[key.lower()]
    for key, value in sorted(values.items(), key=lambda item: item[1]):
        out[placed[key]] = value
    return out


def _check_name(out: Path) -> None:
    if not DATASET_NAME.match(out.name):
        raise CoinError(
            f"The output folder '{out.name}' is not an nnU-Net dataset name.",
            "name it DatasetNNN_Name: 'Dataset', a three-digit id, '_', a name of letters, digits, '_' "
            "or '-' (e.g. --out Dataset501_KidneyLesions).",
        )


def export_nnunet(
    images: list[str | os.PathLike[str]],
    segmentations: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    labels: list[str] | None = None,
    channel_name: str = "CT",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> ExportResult:
    """Write an nnU-Net v2 raw dataset from images and their segmentations (see the module docstring).

    Args:
        images: image files, DICOM series folders, or folders holding them.
        segmentations: ``.seg.nrrd`` files or label maps, or folders holding them.
        out: the dataset folder, named ``DatasetNNN_Name``.
        labels: label names in label-id order (default: from the segmentations).
        channel_name: the name of channel 0 in dataset.json ("CT" selects nnU-Net's CT normalisation).
        overwrite: replace an existing ``out`` folder.

    Raises:
        CoinError: bad names, missing pairs, mismatched grids, an existing ``out`` without ``overwrite``.
    """
    from coin_core.data.benchmark_build import write_folder_atomically
    from coin_core.data.nnunet import write_dataset_json, write_nnunet_case
    from coin_core.io import read_volume

    out = Path(out).expanduser()
    _check_name(out)
    if out.exists() and not overwrite:
        raise CoinError(
            f"The output folder '{out}' already exists.", "choose another --out or pass --overwrite."
        )
    cases, unpaired = pair_cases(
        _expand(list(images), "images"), _expand(list(segmentations), "segmentations")
    )
    segs = [_read_segmentation(c.segmentation) for c in cases]
    label_ids = _label_names(segs, labels)
    counts = dict.fromkeys(label_ids, 0)

    def fill(tmp: Path) -> None:
        for n, (case, seg) in enumerate(zip(cases, segs, strict=True)):
            check_stop(should_stop)
            report(progress, ProgressEvent("export", n, len(cases), f"{case.case_id}: {case.image.name}"))
            image = read_volume(case.image)
            label = _label_map(seg, _place_on_grid(seg, image, case), label_ids, case, image.array.shape)
            for name, value in label_ids.items():
                counts[name] += int(np.count_nonzero(label == value))
            write_nnunet_case(tmp, case.case_id, image, image.with_array(label), file_ending=FILE_ENDING)
            del image, label
        provenance = {
            c.case_id: {"image": str(c.image.resolve()), "segmentation": str(c.segmentation.resolve())}
            for c in cases
        }
        write_dataset_json(
            tmp,
            label_ids,
            channel_names={"0": channel_name},
            num_training=len(cases),
            file_ending=FILE_ENDING,
            name=out.name,
            extra={
                "description": "Pseudo-labels exported by `coin export nnunet` from COIN segmentations",
                "coin_export": provenance,
            },
        )
        report(progress, ProgressEvent("export", len(cases), len(cases), f"wrote {out}"))

    write_folder_atomically(out, fill)  # out replaced only when every case was written
    return ExportResult(out, cases, {"background": 0, **label_ids}, unpaired, counts)


def dataset_summary(result: ExportResult) -> str:
    """A few lines for a terminal."""
    lines = [f"{len(result.cases)} cases written to {result.root}", f"labels: {json.dumps(result.labels)}"]
    lines += [f"  {name}: {n} voxels" for name, n in result.label_voxels.items()]
    if result.unpaired_images:
        names = ", ".join(p.name for p in result.unpaired_images[:8])
        more = " ..." if len(result.unpaired_images) > 8 else ""
        lines.append(
            f"{len(result.unpaired_images)} images without a segmentation were left out: {names}{more}"
        )
    return "\n".join(lines)
