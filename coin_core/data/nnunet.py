"""Reader and writer of the nnU-Net / Medical Segmentation Decathlon raw layout.

::

    ROOT/
      dataset.json          nnU-Net v2: {"channel_names": {"0": "CT"}, "labels": {"background": 0,
                            "kidney": 1, ...}, "numTraining": n, "file_ending": ".nii.gz"}
                            MSD / nnU-Net v1: {"modality": {"0": "CT"}, "labels": {"0": "background",
                            "1": "liver"}, "training": [{"image": "./imagesTr/x.nii.gz",
                            "label": "./labelsTr/x.nii.gz"}, ...]}
      imagesTr/<case>_0000.nii.gz    channel 0 (CT); other channels are ignored
      labelsTr/<case>.nii.gz

Only channel 0 is used (COIN works on single-channel CT).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.fileutil import atomic_path
from coin_core.jsonfile import read_json


@dataclass(frozen=True)
class NnunetCase:
    """One case: its id, image file (channel 0) and label file (None when absent and allowed)."""

    id: str
    image: Path
    label: Path | None


@dataclass
class NnunetDataset:
    """A parsed raw dataset folder.

    Attributes:
        root: the folder.
        cases: sorted by id.
        labels: label name -> id (background included when the file lists it).
        channel_names: channel index (str) -> name, e.g. {"0": "CT"}.
        file_ending: e.g. ".nii.gz".
        name: the "name" field, or the folder name.
    """

    root: Path
    cases: list[NnunetCase]
    labels: dict[str, int]
    channel_names: dict[str, str] = field(default_factory=dict)
    file_ending: str = ".nii.gz"
    name: str = ""

    def label_ids(self, names: Sequence[str | int]) -> list[int]:
        """Ids for label names (ints pass through); unknown names raise CoinError."""
        out = []
        for n in names:
            if isinstance(n, (int, np.integer)) or (isinstance(n, str) and n.strip().isdigit()):
                out.append(int(n))
            elif n in self.labels:
                out.append(self.labels[n])
            else:
                raise CoinError(
                    f"{self.root / 'dataset.json'}: no label named {n!r}.",
                    "known labels: " + ", ".join(f"{k}={v}" for k, v in self.labels.items()),
                )
        return out

    def case(self, case_id: str) -> NnunetCase:
        """The case with this id (CoinError listing the ids otherwise)."""
        for c in self.cases:
            if c.id == case_id:
                return c
        raise CoinError(
            f"{self.root}: no case {case_id!r}.", "cases: " + ", ".join(c.id for c in self.cases[:20])
        )


def _strip_ending(name: str, ending: str) -> str | None:
    return name[: -len(ending)] if name.endswith(ending) else None


def _parse_labels(raw: Any, path: Path) -> dict[str, int]:
    if not isinstance(raw, dict) or not raw:
        raise CoinError(f"{path}: 'labels' must be a non-empty object, got {raw!r}.")
    out: dict[str, int] = {}
    for k, v in raw.items():
        if isinstance(v, str) and str(k).strip().lstrip("-").isdigit():  # MSD: id -> name
            out[v] = int(k)
        elif isinstance(v, (int, float)) and float(v).is_integer():  # nnU-Net v2: name -> id
            out[str(k)] = int(v)
        elif isinstance(v, list) and v and all(isinstance(x, int) for x in v):  # v2 region
            out[str(k)] = int(max(v))
        else:
            raise CoinError(f"{path}: cannot read label entry {k!r}: {v!r}.", "use name -> integer id.")
    return out


def read_nnunet(root: str | os.PathLike[str], require_labels: bool = True) -> NnunetDataset:
    """Parse an nnU-Net v2 or MSD raw dataset folder.

    Args:
        root: folder holding dataset.json, imagesTr/ and labelsTr/.
        require_labels: when True (default) every image needs a label file; otherwise missing
            labels give ``label=None``.

    Raises:
        CoinError: missing dataset.json or imagesTr, an image without a label, a label without
            an image, a bad dataset.json.
    """
    root = Path(root)
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise CoinError(
            f"No dataset.json in {root}.",
            "point to an nnU-Net raw dataset folder (dataset.json, imagesTr/, labelsTr/).",
        )
    meta = read_json(meta_path, "fix or regenerate it.")
    if not isinstance(meta, dict):
        raise CoinError(f"{meta_path}: expected a JSON object.")
    labels = _parse_labels(meta.get("labels"), meta_path)
    channels = meta.get("channel_names", meta.get("modality", {}))
    channels = {str(k): str(v) for k, v in channels.items()} if isinstance(channels, dict) else {}
    ending = str(meta.get("file_ending", ".nii.gz"))
    if isinstance(meta.get("training"), list) and meta["training"]:
        cases = _cases_from_list(root, meta["training"], meta_path, require_labels)
    else:
        cases = _cases_from_folders(root, ending, require_labels)
    if not cases:
        raise CoinError(
            f"{root / 'imagesTr'}: no images found (ending {ending!r}).",
            f"name the CT files imagesTr/<case>_0000{ending} (channel 0), or list them in dataset.json.",
        )
    return NnunetDataset(root, cases, labels, channels, ending, str(meta.get("name", root.name)))


def _cases_from_folders(root: Path, ending: str, require_labels: bool) -> list[NnunetCase]:
    img_dir, lab_dir = root / "imagesTr", root / "labelsTr"
    if not img_dir.is_dir():
        raise CoinError(f"No imagesTr folder in {root}.", "images go in imagesTr/<case>_0000" + ending)
    images: dict[str, Path] = {}
    for p in img_dir.iterdir():
        stem = _strip_ending(p.name, ending)
        if p.name.startswith(".") or stem is None or len(stem) < 6 or stem[-5] != "_":
            continue
        if stem[-4:] == "0000":
            images[stem[:-5]] = p
    labels: dict[str, Path] = {}
    if lab_dir.is_dir():
        for p in lab_dir.iterdir():
            stem = _strip_ending(p.name, ending)
            if stem is not None and not p.name.startswith("."):
                labels[stem] = p
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise CoinError(
            f"{lab_dir}: label file(s) without an image: {', '.join(orphans[:10])}.",
            f"add imagesTr/<case>_0000{ending} for them or remove the labels.",
        )
    return _pair(images, labels, lab_dir, ending, require_labels)


def _pair(images, labels, lab_dir: Path, ending: str, require_labels: bool) -> list[NnunetCase]:
    missing = sorted(set(images) - set(labels))
    if missing and require_labels:
        raise CoinError(
            f"{lab_dir}: no label file for image(s) of case(s) {', '.join(missing[:10])}.",
            f"add labelsTr/<case>{ending} or remove the images.",
        )
    return [NnunetCase(c, images[c], labels.get(c)) for c in sorted(images)]


def _cases_from_list(root: Path, entries: list, meta_path: Path, require_labels: bool) -> list[NnunetCase]:
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "image" not in e:
            raise CoinError(f"{meta_path}: training[{i}] must be an object with 'image', got {e!r}.")
        img = (root / e["image"]).resolve()
        name = img.name.split(".")[0]
        case_id = name[:-5] if name.endswith("_0000") else name
        if not img.is_file():
            alt = img.with_name(img.name.replace(name, case_id + "_0000", 1))
            if not alt.is_file():
                raise CoinError(f"{meta_path}: training[{i}] image not found: {img}.", "check the file.")
            img = alt
        images[case_id] = img
        if e.get("label"):
            lab = (root / e["label"]).resolve()
            if not lab.is_file():
                raise CoinError(f"{meta_path}: training[{i}] label not found: {lab}.", "check the file.")
            labels[case_id] = lab
    return _pair(images, labels, root / "labelsTr", ".nii.gz", require_labels)


def write_nnunet_case(
    root: str | os.PathLike[str],
    case_id: str,
    image: Any,
    label: Any | None = None,
    file_ending: str = ".nii.gz",
) -> NnunetCase:
    """Write one case as imagesTr/<case>_0000 and labelsTr/<case> (atomic; geometry kept).

    ``image`` and ``label`` are :class:`coin_core.io.Volume`; the label must have the image's
    shape and is stored as an integer map (uint8 when ids fit, else int16).
    """
    from coin_core.io import write_volume

    root = Path(root)
    if not case_id or "/" in case_id or case_id.startswith("."):
        raise CoinError(f"write_nnunet_case: bad case id {case_id!r}.", "use letters, digits, '_' or '-'.")
    img_path = root / "imagesTr" / f"{case_id}_0000{file_ending}"
    write_volume(image, img_path)
    lab_path = None
    if label is not None:
        arr = np.asarray(label.array)
        if arr.shape != np.asarray(image.array).shape:
            raise CoinError(
                f"write_nnunet_case: label of case {case_id!r} has shape {arr.shape}, "
                f"image has {np.asarray(image.array).shape}."
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise CoinError(f"write_nnunet_case: label of case {case_id!r} is not an integer map.")
        dtype = np.uint8 if arr.size == 0 or (arr.min() >= 0 and arr.max() < 256) else np.int16
        lab_path = root / "labelsTr" / f"{case_id}{file_ending}"
        write_volume(label.with_array(arr.astype(dtype)), lab_path)
    return NnunetCase(case_id, img_path, lab_path)


def write_dataset_json(
    root: str | os.PathLike[str],
    labels: Mapping[str, int],
    channel_names: Mapping[str, str] | None = None,
    num_training: int | None = None,
    file_ending: str = ".nii.gz",
    name: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an nnU-Net v2 dataset.json (atomic). ``num_training`` defaults to the images found."""
    root = Path(root)
    labs = {str(k): int(v) for k, v in labels.items()}
    if 0 not in labs.values():
        labs = {"background": 0, **labs}
    if num_training is None:
        img_dir = root / "imagesTr"
        num_training = len(list(img_dir.glob(f"*_0000{file_ending}"))) if img_dir.is_dir() else 0
    meta: dict[str, Any] = {
        "name": name or root.name,
        "channel_names": dict(channel_names or {"0": "CT"}),
        "labels": labs,
        "numTraining": int(num_training),
        "file_ending": file_ending,
    }
    meta.update(extra or {})
    path = root / "dataset.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path
