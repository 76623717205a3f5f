"""Build a prepared slice set ("BENCH" folder) from REAL labels: no synthetic lesions.

For a researcher with CT volumes, host-organ label maps and either lesion label maps or image-level
slice labels (docs/method.md §3.4, the TUH setting):

1. read every case, ``to_canonical`` (axial slice k = ``array[k]``);
2. keep slices where the host organ (its lesion labels included) covers more than
   ``min_host_pixels`` pixels;
3. slice label:

   * from the label map: 1 when the lesion labels cover more than ``min_lesion_pixels`` pixels;
     ``has_mask`` = 1 and ``lesion`` = the real lesion mask (kept on slices labelled 0 that show a
     few lesion pixels, so the pixel ground truth stays true); slices listed in dataset.json
     "exclude_slices" that the map calls normal are dropped (a lesion the map misses);
   * from a CSV (``case, slice, label``; :func:`coin_core.data.labels.read_label_csv`): the CSV's
     label, ``has_mask`` = 0 and ``lesion`` zeros; host slices the CSV does not list are dropped;

4. split by case (several cases) or by contiguous slice blocks (one case), as the synthetic builder;
5. intensity window from the train split's host voxels; one sample per slice (``draw`` = 0);
6. write ``train/val/test.npz`` and ``benchmark.json`` (``"kind": "real-labels"``) atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.data.benchmark import FORMAT, SPLITS, SliceArrays, write_benchmark_json
from coin_core.data.benchmark_build import (
    assign_splits,
    check_out_folder,
    lesion_label_names,
    listed_exclusions,
    slice_set_meta,
    train_window,
    write_folder_atomically,
    write_splits,
)
from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report

KIND = "real-labels"


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of :func:`prepare_dataset` (defaults: the CLI's).

    ``lesion_labels``: label names or ids marking lesions; None = every label named like a lesion
    (cyst, tumour, ...). ``labels_csv``: image-level labels instead of lesion masks (then
    ``lesion_labels`` must be None).
    """

    host: tuple[str, ...] = ("kidney",)
    lesion_labels: tuple[str | int, ...] | None = None
    labels_csv: str | os.PathLike[str] | None = None
    min_lesion_pixels: int = 0
    min_host_pixels: int = 32
    size: int = 256
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    gap: int = 1
    seed: int = 0
    block_order: tuple[str, str, str] = ("test", "val", "train")
    #: held-out test cases; the other cases make train and val (z-blocks when only one is left)
    test_cases: tuple[str, ...] = ()


@dataclass
class _Case:
    index: int
    id: str
    image_path: Path
    label_path: Path | None
    slices: np.ndarray  # usable canonical k
    image: np.ndarray  # (n, H, W) HU
    label: np.ndarray  # (n, H, W) label ids
    y: np.ndarray  # (n,) slice labels
    n_host_slices: int
    n_dropped: int
    spacing_xy: tuple[float, float] = (1.0, 1.0)  # (column, row) pixel size in mm


def _lesion_ids(ds: Any, cfg: PrepareConfig, host_ids: list[int]) -> dict[str, int]:
    if cfg.labels_csv is not None:
        if cfg.lesion_labels:
            raise CoinError(
                f"Give either lesion labels {list(cfg.lesion_labels)} or a label CSV ({cfg.labels_csv}), "
                "not both.",
                "use --lesion-labels for pixel masks or --labels-csv for image-level labels.",
            )
        return {}
    if cfg.lesion_labels:
        ids = ds.label_ids(list(cfg.lesion_labels))
        names = {v: k for k, v in ds.labels.items()}
        found = {names.get(i, str(i)): i for i in ids}
    else:
        found = lesion_label_names(ds.labels, host_ids)
    if not found:
        raise CoinError(
            f"{Path(ds.root) / 'dataset.json'} has no lesion label (labels: {ds.labels}).",
            "name the lesion labels with --lesion-labels, or give image-level labels with --labels-csv.",
        )
    clash = sorted(set(found.values()) & set(host_ids))
    if clash:
        raise CoinError(
            f"Label id(s) {clash} are both host and lesion labels.", "check --host and --lesion-labels."
        )
    return found


def _load_cases(
    ds, host_ids, lesion_ids, cfg: PrepareConfig, progress, should_stop, computed: str | None = None
) -> list[_Case]:
    from coin_core.data.hosts import computed_host, with_computed_host
    from coin_core.data.labels import (
        filter_slices,
        labels_for_case,
        read_label_csv,
        slice_labels_from_mask,
    )
    from coin_core.io import read_volume, to_canonical

    if cfg.min_lesion_pixels < 0:
        raise CoinError(f"min_lesion_pixels must be >= 0, got {cfg.min_lesion_pixels}.")
    listed = listed_exclusions(Path(ds.root))
    volumes = []
    for c in ds.cases:
        check_stop(should_stop)
        if c.label is None and not (computed and cfg.labels_csv is not None):
            raise CoinError(
                f"Case {c.id!r} of {ds.root} has no label map.",
                "prepare needs host-organ labels, or --host body / --host lung with --labels-csv.",
            )
        image = to_canonical(read_volume(c.image))
        lab = to_canonical(read_volume(c.label)).array if c.label is not None else None
        if lab is not None and image.array.shape != lab.shape:
            raise CoinError(
                f"Case {c.id!r}: image {c.image} has shape {image.array.shape}, "
                f"label {c.label} has {lab.shape}.",
                "pair each image with its own label map.",
            )
        if computed:
            report(
                progress, ProgressEvent("host", 0, 1, f"{c.id}: computing the {computed} mask from the CT")
            )
            host = computed_host(computed, image.array, image.spacing)
            lab = np.zeros(image.array.shape, np.uint8) if lab is None else lab
            lab = with_computed_host(lab, host, lesion_ids, host_ids[0])
        volumes.append((c, image.array, lab, (float(image.spacing[0]), float(image.spacing[1]))))
    table = None
    if cfg.labels_csv is not None:
        table = read_label_csv(cfg.labels_csv, {c.id: lab.shape[0] for c, _, lab, _ in volumes})
    cases = []
    for ci, (c, img, lab, spacing_xy) in enumerate(volumes):
        kept = filter_slices(lab, host_ids + lesion_ids, cfg.min_host_pixels)
        if table is not None:
            y = labels_for_case(table, c.id, lab.shape[0])[kept].astype(np.int16)
            ok = y >= 0
        else:
            y = slice_labels_from_mask(lab, lesion_ids, cfg.min_lesion_pixels)[kept].astype(np.int16)
            ok = ~(np.isin(kept, sorted(listed.get(c.id, ()))) & (y == 0))
        usable = kept[ok]
        cases.append(
            _Case(ci, c.id, Path(c.image), Path(c.label) if c.label else None, usable,
                  np.ascontiguousarray(img[usable]),
                  np.ascontiguousarray(lab[usable]), y[ok].astype(np.uint8), len(kept), int((~ok).sum()),
                  spacing_xy)
        )  # fmt: skip
        report(progress, ProgressEvent("read", ci + 1, len(volumes), f"{c.id}: {len(usable)} usable slices"))
    return cases


def _split_arrays(cases, ks_by_case, window, host_ids, lesion_ids, masks: bool, size: int) -> SliceArrays:
    from coin_core.data.slices import plan_slice, to_model

    parts = []
    for ci, ks in ks_by_case.items():
        if not len(ks):
            continue
        case = cases[ci]
        sel = np.isin(case.slices, ks)
        hu, lab, y = case.image[sel], case.label[sel], case.y[sel]
        geom = plan_slice(hu.shape[1:], size)
        lesion = np.isin(lab, lesion_ids).astype(np.uint8) if masks else np.zeros(lab.shape, np.uint8)
        n = len(y)
        parts.append(
            SliceArrays(
                image=to_model(window.normalize(hu.astype(np.float32)), geom, "image").astype(np.float16),
                label=y,
                lesion=to_model(lesion, geom, "mask"),
                has_mask=np.full(n, int(masks), np.uint8),
                host=to_model(np.isin(lab, host_ids + lesion_ids).astype(np.uint8), geom, "mask"),
                case=np.full(n, ci, np.int32),
                slice_index=case.slices[sel].astype(np.int32),
                draw=np.zeros(n, np.int32),
            )
        )
    return SliceArrays.concatenate(parts, size)


def prepare_dataset(
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: PrepareConfig | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict[str, Any]:
    """Write a BENCH folder (docs/internals.md) with real slice labels from an nnU-Net dataset.

    Args:
        data_dir: nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/ with host-organ labels).
        out: output folder; must be absent or empty unless ``overwrite``.
        config: host organ, lesion labels or label CSV, thresholds, size, split fractions, gap, seed.
        overwrite: replace an existing non-empty ``out``.
        progress: "read", "window" and "write" events.
        should_stop: cancellation; nothing is left behind when it fires.

    Returns:
        The benchmark.json content (also written to ``out``); ``"kind": "real-labels"``.

    Raises:
        CoinError: no lesion label and no CSV, both given, a bad CSV, no host slice, empty train split.
    """
    from coin_core.data.hosts import computed_host_note, host_ids_or_hint, resolve_host
    from coin_core.data.nnunet import read_nnunet

    cfg = config or PrepareConfig()
    out = Path(out)
    check_out_folder(out, overwrite)
    ds = read_nnunet(data_dir, require_labels=False)
    computed = resolve_host(ds.labels, tuple(cfg.host))
    host_ids = host_ids_or_hint(ds, tuple(cfg.host), computed, ds.labels)
    lesion_names = _lesion_ids(ds, cfg, host_ids)
    lesion_ids = sorted(set(lesion_names.values()))
    masks = cfg.labels_csv is None
    cases = _load_cases(ds, host_ids, lesion_ids, cfg, progress, should_stop, computed)
    if sum(len(c.slices) for c in cases) == 0:
        raise CoinError(
            f"No labelled axial slice of {ds.root} has more than {cfg.min_host_pixels} pixels of "
            f"{list(cfg.host)} (label ids {host_ids}).",
            "check --host (and the CSV's case ids and slices), or lower --min-host-pixels.",
        )
    assignment = assign_splits(cases, cfg)
    window = train_window(cases, assignment, host_ids, progress, should_stop)

    def split_arrays(split: str) -> SliceArrays:
        check_stop(should_stop)
        return _split_arrays(cases, assignment[split], window, host_ids, lesion_ids, masks, cfg.size)

    def fill(tmp: Path) -> dict[str, Any]:
        splits_meta = write_splits(tmp, cases, assignment, split_arrays, dict.fromkeys(SPLITS, 1), progress)
        described = {
            "labels": {
                "source": "masks" if masks else "csv",
                "lesion_labels": lesion_names,
                "min_lesion_pixels": cfg.min_lesion_pixels,
                "csv": None if masks else str(Path(cfg.labels_csv).resolve()),
            },
        }
        excluded = {
            "unlabelled_or_listed_slices": {c.id: c.n_dropped for c in cases},
            "host_slices": {c.id: c.n_host_slices for c in cases},
        }
        if computed:
            described["host_computed"] = computed_host_note(computed)
        meta = slice_set_meta(cfg, cases, window, host_ids, splits_meta, described, excluded)
        meta = {"format": FORMAT, "kind": KIND, **meta}  # "kind" second, as before
        write_benchmark_json(tmp, meta)
        return meta

    return write_folder_atomically(out, fill)
