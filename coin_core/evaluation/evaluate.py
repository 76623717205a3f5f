"""One routine that scores every method on the same fixed slices with the same policy.

Protocol (docs/method.md §11.3, the fair version of the paper's §8; the table: docs/benchmarks.md):

* Every method is scored on one saved split of a BENCH folder, so all of them see the same lesion
  draws. The paper's protocol scores the GT-abnormal samples with pixel ground truth
  (``label == 1`` and ``has_mask == 1``); a second column adds the normal samples
  (``label == 0``), where every marked pixel is a false positive.
* Maps are in [0, 1]: ``|x - x_cf| / 2`` for the counterfactual methods (coin, singla, and every
  extra COIN model given as a compared row), per-image min-max maps for the attributions (rise,
  scorecam, layercam, gradcam).
* Each row's threshold is chosen on the validation split (never the scored one) by maximising the
  micro IoU over its abnormal samples, with the same post-processing policy (``postprocess``) for
  every method; the same threshold is used in both columns. When the BENCH knows its pixel size, a
  mask margin (the cleaned mask grown in-plane by ``margins`` mm) is tuned jointly with it, for every
  method alike (docs/method.md, "Mask margin").
* Two trivial baselines that know nothing about lesions are rows of the table: the host-organ
  mask on every sample, and the host-organ mask on the samples the classifier f calls abnormal
  (p >= 0.5). A method counts only where it beats both, in both columns.
* 95 % intervals for micro IoU and CV resample the split's source slices (a slice's lesion draws
  stay together; :mod:`coin_core.evaluation.bootstrap`).
* Speckle: the 99th percentile of each map over healthy body pixels of normal and of abnormal
  samples, against half the tuned threshold (:mod:`coin_core.evaluation.speckle`).
* The paper's fixed protocol is reported as well: 0.25 with the paper's clean-up for the
  counterfactual methods, 0.975 without clean-up for the attributions.
* The paper's own Table 1 figures (TotalSegmentator, synthetic) go into the table only when the BENCH
  is a benchmark of that kind (``paper_columns`` and ``paper_columns_why`` in the results;
  :mod:`coin_core.evaluation.paper_match`).
* For the counterfactual methods, CV (τ = 0.8) and a Fréchet distance between real and
  counterfactual slices are computed over *all* slices of the split. The features are the frozen
  classifier's penultimate layer (``FD-classifier``), not InceptionV3, so the values are not
  comparable to the paper's FID.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.evaluation.baselines import ATTRIBUTION_METHODS
from coin_core.evaluation.bootstrap import RESAMPLES, SEED, source_slices
from coin_core.evaluation.metrics import (
    FeatureStats,
    counterfactual_validity,
    frechet_distance_from_stats,
    per_slice_counts,
)
from coin_core.evaluation.organ_baselines import (
    BASELINE_FIELDS,
    BASELINE_LABELS,
    GATE_P,
    GATED_HOST_ORGAN,
    HOST_ORGAN,
    host_masks,
    probabilities,
)
from coin_core.evaluation.paper_match import paper_columns
from coin_core.evaluation.report import LABELS
from coin_core.evaluation.scoring import SampleScores, cv_interval
from coin_core.evaluation.speckle import LESION_MARGIN_PX, PERCENTILE, Speckle
from coin_core.evaluation.thresholds import (
    MARGIN_GRID_MM,
    PAPER_ATTRIBUTION,
    PAPER_COUNTERFACTUAL,
    POSTPROCESS_CHOICES,
    ThresholdSweep,
    binarize,
    check_margins,
)
from coin_core.infer.postprocess import DEFAULT_POSTPROCESS
from coin_core.models.conditioning import difference_map
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report

COUNTERFACTUAL_METHODS = ("coin", "singla")
ALL_METHODS = COUNTERFACTUAL_METHODS + ATTRIBUTION_METHODS
RESULTS_FORMAT = "coin-evaluation/2"


@dataclass
class EvaluationSettings:
    """What to score and how.

    Attributes:
        methods: any of :data:`ALL_METHODS`.
        split: the split that is scored ("test").
        val_split: the split thresholds are tuned on ("val").
        postprocess: clean-up applied to every method's mask when tuned ("paper" or "none").
        rise_masks: RISE mask count (6000 in the paper).
        batch_size: slices per forward pass.
        max_val_slices: at most this many abnormal validation slices (evenly spaced) for tuning.
        thresholds: the tuning grid (None = :func:`coin_core.evaluation.thresholds.default_grid`).
        margins: the mask margins (mm) tuned jointly with the threshold; ``(0.0,)`` = none (the paper).
        tau: CV margin.
        seed: RISE mask seed.
        inception_weights: optional safetensors file of the FID InceptionV3; when given, an
            Inception Fréchet distance (``fd_inception``) is reported next to FD-classifier.
        baselines: add the two trivial host-organ rows (:mod:`coin_core.evaluation.organ_baselines`).
        bootstrap_resamples, bootstrap_seed: the 95 % intervals' resamples and seed.
    """

    methods: tuple[str, ...] = ALL_METHODS
    split: str = "test"
    val_split: str = "val"
    postprocess: str = DEFAULT_POSTPROCESS
    rise_masks: int = 6000
    batch_size: int = 16
    max_val_slices: int | None = None
    thresholds: tuple[float, ...] | None = None
    margins: tuple[float, ...] = MARGIN_GRID_MM
    tau: float = 0.8
    seed: int = 0
    inception_weights: str | None = None
    baselines: bool = True
    bootstrap_resamples: int = RESAMPLES
    bootstrap_seed: int = SEED

    def validate(self) -> None:
        if self.val_split == self.split:
            raise CoinError(
                f"The threshold would be tuned on the split it is scored on ('{self.split}').",
                "tune on another split: --val-split val --split test (the default).",
            )
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown or not self.methods:
            raise CoinError(
                f"Unknown evaluation method(s): {', '.join(unknown) or '(none given)'}.",
                f"choose from {', '.join(ALL_METHODS)}.",
            )
        if self.postprocess not in POSTPROCESS_CHOICES:
            raise CoinError(
                f"Unknown post-processing '{self.postprocess}'.",
                f"use one of {', '.join(POSTPROCESS_CHOICES)}.",
            )
        check_margins(self.margins)
        if self.rise_masks < 1 or self.batch_size < 1 or self.bootstrap_resamples < 1:
            raise CoinError(
                "rise_masks, batch_size and bootstrap_resamples must be >= 1; got "
                f"{self.rise_masks}, {self.batch_size}, {self.bootstrap_resamples}."
            )


def _device(model: Any) -> Any:
    return _device_of(model.classifier)


def _device_of(module: Any) -> Any:
    return next(module.parameters()).device


def _scored_indices(arrays: Any, limit: int | None = None) -> np.ndarray:
    """The abnormal samples with pixel ground truth (the paper's protocol), evenly capped at ``limit``."""
    idx = np.flatnonzero((np.asarray(arrays.label) == 1) & (np.asarray(arrays.has_mask) == 1))
    if limit is not None and idx.size > limit:
        idx = idx[np.unique(np.linspace(0, idx.size - 1, limit).round().astype(int))]
    return idx


def _scored_mask(arrays: Any) -> np.ndarray:
    """Samples of the "normals too" column: the paper's abnormal samples plus every normal one."""
    label = np.asarray(arrays.label)
    return (label == 0) | ((label == 1) & (np.asarray(arrays.has_mask) == 1))


def _batch(arrays: Any, idx: np.ndarray, device: Any) -> Any:
    import torch

    x = np.asarray(arrays.image[idx], dtype=np.float32)[:, None]
    return torch.from_numpy(x).to(device)


def _features(classifier: Any, x: Any) -> Any:
    if hasattr(classifier, "features"):
        return classifier.features(x)
    from coin_core.evaluation.baselines._common import capture, target_layer

    with capture(target_layer(classifier)) as st:
        classifier(x)
    return st["act"].mean(dim=(2, 3))


class _Method:
    """Produces [B,1,S,S] maps in [0,1] for one row (and counterfactuals when it has them).

    Args:
        name: the method (one of :data:`ALL_METHODS`).
        model: the COIN model whose classifier the attributions explain (and whose counterfactual
            "coin" is).
        key: the row's key in the results ("coin", "coin@LABEL", "rise", ...).
        label: the row's label in the table.
    """

    def __init__(
        self,
        name: str,
        model: Any,
        singla: Any,
        settings: EvaluationSettings,
        stop: Any,
        key: str | None = None,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.key = key or name
        self.label = label or LABELS.get(name, name)
        self.kind = "counterfactual" if name in COUNTERFACTUAL_METHODS else "attribution"
        self.cf_model = singla if name == "singla" else model
        self.classifier = model.classifier
        self.settings = settings
        self.stop = stop
        self.paper = PAPER_COUNTERFACTUAL if self.kind == "counterfactual" else PAPER_ATTRIBUTION

    @property
    def size(self) -> int:
        return int(self.cf_model.card.input_size)

    def counterfactual(self, x: Any) -> Any:
        return self.cf_model.counterfactual(x).float().clamp(-1, 1)

    def maps(self, x: Any) -> Any:
        from coin_core.evaluation import baselines

        if self.kind == "counterfactual":
            import torch

            with torch.no_grad():
                return difference_map(x, self.counterfactual(x))
        if self.name == "rise":
            s = self.settings
            return baselines.rise(self.classifier, x, s.rise_masks, seed=s.seed, should_stop=self.stop)
        if self.name == "scorecam":
            return baselines.scorecam(self.classifier, x, should_stop=self.stop)
        return getattr(baselines, self.name)(self.classifier, x)


def _tune(method: _Method, split: _Split, s: EvaluationSettings, progress: Any, stop: Any) -> dict:
    arrays = split.arrays
    idx = _scored_indices(arrays, s.max_val_slices)
    if idx.size == 0:
        raise CoinError(
            f"The '{s.val_split}' split has no abnormal slices with pixel ground truth "
            "to tune thresholds on.",
            "evaluate on a BENCH folder built with synthetic lesions (coin data synth-lesions).",
        )
    margins = s.margins if split.pixel_mm is not None else (0.0,)
    sweep = ThresholdSweep(s.thresholds, s.postprocess, margins)
    dev = _device(method.cf_model)
    batches = [idx[i : i + s.batch_size] for i in range(0, idx.size, s.batch_size)]
    for n, b in enumerate(batches, 1):
        maps = split.to_frame(method.maps(_batch(split.inputs, b, dev))[:, 0].detach().cpu().numpy(), b)
        px = None if split.pixel_mm is None else split.pixel_mm[b]
        sweep.update(maps, np.asarray(arrays.lesion[b]), px)
        check_stop(stop)
        msg = f"{method.label}: tuning on val"
        report(progress, ProgressEvent(f"{method.key}:val", n, len(batches), msg))
    res = sweep.result()
    out = {
        "threshold": res.best_threshold,
        "margin_mm": res.best_margin_mm,
        "val_micro_iou": res.best_iou,
        "n_val_slices": int(idx.size),
        "sweep": {
            "thresholds": res.thresholds,
            "micro_iou": res.ious,
            "margins_mm": res.margins_mm,
            "micro_iou_by_margin": res.ious_by_margin,
        },
    }
    if split.pixel_mm is None and any(m > 0 for m in s.margins):
        out["margin_note"] = "no margin tuned: the BENCH does not record its pixel size (frame_pixel_mm)"
    return out


def tune_threshold(
    model: Any,
    val: Any,
    *,
    postprocess: str = DEFAULT_POSTPROCESS,
    thresholds: tuple[float, ...] | None = None,
    margins: tuple[float, ...] = MARGIN_GRID_MM,
    max_val_slices: int | None = None,
    batch_size: int = 16,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict:
    """Tune a COIN model's difference threshold (and mask margin) on a validation split.

    The routine ``coin evaluate`` uses, in its frame.

    Args:
        model: a loaded model (:class:`coin_core.modelfile.CoinModel` or the same interface).
        val: a BENCH folder (its "val" split is loaded in ``coin evaluate``'s frame, with the pixel
            size the margin needs), or validation arrays (:class:`coin_core.data.benchmark.SliceArrays`)
            at the model's size, whose pixel size is unknown (then no margin is tuned).
        postprocess, thresholds, margins, max_val_slices, batch_size: as in :class:`EvaluationSettings`.

    Returns:
        ``{"threshold", "margin_mm", "val_micro_iou", "n_val_slices", "sweep"}``.

    Raises:
        CoinError: when the split has no abnormal sample with pixel ground truth.
    """
    s = EvaluationSettings(
        methods=("coin",),
        postprocess=postprocess,
        thresholds=thresholds,
        margins=tuple(margins),
        max_val_slices=max_val_slices,
        batch_size=batch_size,
    )
    s.validate()
    if isinstance(val, (str, Path)):
        split = _load_split(val, s.val_split, int(model.card.input_size), model)
    else:
        split = _Split(val, np.zeros(0, np.int64), 0)  # val as the model sees it: its own frame
    return _tune(_Method("coin", model, None, s, should_stop), split, s, progress, should_stop)


def _counts(
    maps: np.ndarray,
    gt: np.ndarray,
    threshold: float,
    postprocess: str,
    margin_mm: float = 0.0,
    pixel_mm: Any = None,
) -> np.ndarray:
    return per_slice_counts(binarize(maps, threshold, postprocess, margin_mm, pixel_mm), gt)


class _Split:
    """A scored split in the table's frame, with the per-sample facts every row needs.

    ``arrays``: the split at the frame size (ground truth, labels, the image the speckle is read
    on). ``inputs``: what the model sees; the same arrays, or for a model with a host-organ box
    (:mod:`coin_core.data.crop`) the boxes, whose maps :meth:`to_frame` pastes back into the stored
    slice and resizes to the frame, so every row is scored on the same pixels.
    """

    def __init__(
        self,
        arrays: Any,
        clusters: np.ndarray,
        n_clusters: int,
        inputs: Any = None,
        boxes: list | None = None,
        stored_size: int = 0,
        pixel_mm: np.ndarray | None = None,
    ) -> None:
        self.arrays = arrays
        self.scored = _scored_mask(arrays)
        self.clusters = clusters
        self.n_clusters = n_clusters
        self.inputs = arrays if inputs is None else inputs
        self.boxes = boxes
        self.stored_size = stored_size
        self.pixel_mm = pixel_mm  # (N, 2) row / column mm of the frame's pixels, None when unknown

    def to_frame(self, maps: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Maps (B, s, s) of the samples ``idx`` in the model's input -> (B, S, S) in the frame."""
        if self.boxes is None:
            return maps
        from coin_core.data.crop import paste_slices
        from coin_core.data.slices import plan_slice, to_model

        stored = paste_slices(maps, [self.boxes[int(i)] for i in idx], (self.stored_size, self.stored_size))
        # the same resampling that made the frame's images from the stored slices (SliceArrays.resized)
        return to_model(stored, plan_slice(stored.shape[-2:], int(self.arrays.image.shape[-1])), "image")


def _load_split(bench_dir: Any, split: str, frame: int, model: Any) -> _Split:
    """``split`` of ``bench_dir`` in a frame of ``frame`` pixels, with the inputs ``model`` needs."""
    from coin_core.data.benchmark import load_split, read_benchmark_json

    crop = getattr(model.card, "input_crop", None)
    # a whole-slice model is scored at its own input size (as before host-organ boxes existed)
    arrays = load_split(bench_dir, split, size=frame if crop is not None else int(model.card.input_size))
    clusters = source_slices(arrays.case, arrays.slice_index)
    n_clusters = int(clusters.max()) + 1 if clusters.size else 0
    # arrays saved without a benchmark.json (tests, hand-made sets) have no pixel size: no margin
    has_meta = (Path(bench_dir) / "benchmark.json").is_file()
    meta = read_benchmark_json(bench_dir) if has_meta or crop is not None else {}
    pixel_mm = frame_pixel_sizes(meta, arrays.case, int(arrays.image.shape[-1]))
    if crop is None:
        return _Split(arrays, clusters, n_clusters, pixel_mm=pixel_mm)
    from coin_core.data.crop import crop_arrays

    stored = load_split(bench_dir, split)
    inputs, boxes = crop_arrays(stored, crop, meta, int(model.card.input_size))
    return _Split(arrays, clusters, n_clusters, inputs, boxes, stored.size, pixel_mm)


def frame_pixel_sizes(meta: dict, case: Any, frame: int) -> np.ndarray | None:
    """(N, 2) row / column pixel size in mm of N samples resized to ``frame`` pixels; None when unknown.

    The BENCH records each case's pixel size at its stored size (``frame_pixel_mm``, benchmark.json;
    :func:`coin_core.data.crop.frame_pixel_mm`); a BENCH built before it did gives None (and no margin
    is tuned on it).
    """
    from coin_core.data.crop import frame_pixel_mm

    stored = meta.get("input_size")
    idx = np.asarray(case, dtype=np.int64).reshape(-1)
    try:
        per_case = {int(c): frame_pixel_mm(meta, int(c)) for c in np.unique(idx)}
    except CoinError:
        return None
    if stored is None:
        return None
    sizes = np.asarray([per_case[int(c)] for c in idx], dtype=np.float64).reshape(-1, 2)
    return sizes * float(stored) / float(frame)


def _score(method: _Method, split: _Split, tuned: dict, s: EvaluationSettings, progress: Any, stop: Any,
           inception: Any = None) -> dict:  # fmt: skip
    import torch

    arrays, scored = split.arrays, split.scored
    threshold, margin = float(tuned["threshold"]), float(tuned.get("margin_mm") or 0.0)
    if margin > 0 and split.pixel_mm is None:
        raise CoinError(
            f"A mask margin of {margin:g} mm was tuned, but the '{s.split}' split does not know its "
            "pixel size.",
            "rebuild the BENCH with coin data synth-lesions (it records frame_pixel_mm).",
        )
    px_all = split.pixel_mm
    # counterfactual methods run on every slice (CV and FD need them all); attributions on scored ones
    rows = np.arange(scored.size) if method.kind == "counterfactual" else np.flatnonzero(scored)
    scores = SampleScores(split.n_clusters, s.bootstrap_resamples, s.bootstrap_seed)
    speckle = Speckle()
    real, fake, inc_real, inc_fake = FeatureStats(), FeatureStats(), FeatureStats(), FeatureStats()
    p_all, pcf_all = [], []
    dev = _device(method.cf_model)
    batches = [rows[i : i + s.batch_size] for i in range(0, rows.size, s.batch_size)]
    for n, b in enumerate(batches, 1):
        x = _batch(split.inputs, b, dev)
        if method.kind == "counterfactual":
            with torch.no_grad():
                x_cf = method.counterfactual(x)
                p_all.append(method.cf_model.probability(x).float().cpu().numpy())
                pcf_all.append(method.cf_model.probability(x_cf).float().cpu().numpy())
                real.update(_features(method.classifier, x).float().cpu().numpy())
                fake.update(_features(method.classifier, x_cf).float().cpu().numpy())
                if inception is not None:
                    inc_real.update(inception(((x + 1) / 2).to(_device_of(inception))).cpu().numpy())
                    inc_fake.update(inception(((x_cf + 1) / 2).to(_device_of(inception))).cpu().numpy())
            maps = split.to_frame(difference_map(x, x_cf)[:, 0].cpu().numpy(), b)
        else:
            maps = split.to_frame(method.maps(x)[:, 0].detach().cpu().numpy(), b)
        keep = scored[b]
        if keep.any():
            bk, mk = b[keep], maps[keep]
            gt = np.asarray(arrays.lesion[bk])
            label = np.asarray(arrays.label[bk])
            scores.update(
                _counts(mk, gt, threshold, s.postprocess, margin, None if margin == 0 else px_all[bk]),
                label,
                np.asarray(arrays.case[bk]),
                split.clusters[bk],
                paper=_counts(mk, gt, *method.paper),
            )
            speckle.update(mk, np.asarray(arrays.image[bk], np.float32), gt, label)
        check_stop(stop)
        report(
            progress, ProgressEvent(f"{method.key}:{s.split}", n, len(batches), f"{method.label}: scoring")
        )
    out = scores.to_dict()
    out["speckle"] = speckle.result(threshold)
    out.update(cv=None, cv_ci=None, cv_n=0, cf_normal_rate=None, fd_classifier=None, fd_inception=None)
    if method.kind == "counterfactual" and p_all:
        p, p_cf = np.concatenate(p_all), np.concatenate(pcf_all)
        cv, cv_n = counterfactual_validity(p, p_cf, s.tau)
        out.update(cv=None if math.isnan(cv) else cv, cv_n=cv_n, cf_normal_rate=float(np.mean(p_cf < 0.5)))
        ci = cv_interval(
            p, p_cf, split.clusters[rows], split.n_clusters, s.tau, s.bootstrap_resamples, s.bootstrap_seed
        )
        out["cv_ci"] = ci if cv_n else None
        if real.n >= 2:
            out["fd_classifier"] = frechet_distance_from_stats(*real.mean_cov(), *fake.mean_cov())
        if inc_real.n >= 2:
            out["fd_inception"] = frechet_distance_from_stats(*inc_real.mean_cov(), *inc_fake.mean_cov())
    return out


def _score_baselines(
    model: Any, split: _Split, s: EvaluationSettings, progress: Any, stop: Any, step: tuple[int, int] = (1, 1)
) -> dict:
    """The two rows that know nothing about lesions (:mod:`coin_core.evaluation.organ_baselines`)."""
    arrays = split.arrays
    rows = np.flatnonzero(split.scored)
    rows_out = {}
    p = probabilities(model, split.inputs, rows, s.batch_size, stop)
    for key, gated in ((HOST_ORGAN, False), (GATED_HOST_ORGAN, True)):
        scores = SampleScores(split.n_clusters, s.bootstrap_resamples, s.bootstrap_seed)
        masks = host_masks(np.asarray(arrays.host[rows]), p if gated else None)
        scores.update(
            per_slice_counts(masks, np.asarray(arrays.lesion[rows])),
            np.asarray(arrays.label[rows]),
            np.asarray(arrays.case[rows]),
            split.clusters[rows],
        )
        res = scores.to_dict()
        res.update(BASELINE_FIELDS)
        res.update(kind="baseline", method=key, label=BASELINE_LABELS[key], threshold=None, speckle=None)
        if gated:
            res["gate"] = {"p_threshold": GATE_P, "samples_called_abnormal": int((p >= GATE_P).sum())}
        rows_out[key] = res
    report(progress, ProgressEvent("method", *step, "baselines done"))
    return rows_out


def _beats(rows: dict[str, dict]) -> None:
    """Mark every scored row with whether it beats both baselines in each column (in place)."""
    base = [rows[k] for k in (HOST_ORGAN, GATED_HOST_ORGAN) if k in rows]
    for row in rows.values():
        if row["kind"] == "baseline":
            continue
        if len(base) < 2:
            row["beats_baselines"] = None
            continue
        cols = {}
        for col, key in (("paper_protocol", "micro_iou"), ("with_normals", "micro_iou_with_normals")):
            mine = row.get(key)
            cols[col] = bool(
                mine is not None and not math.isnan(mine) and all(mine > _num(b.get(key)) for b in base)
            )
        cols["both"] = cols["paper_protocol"] and cols["with_normals"]
        row["beats_baselines"] = cols


def _num(v: Any) -> float:
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _case_names(bench_dir: str | Path) -> dict[int, str]:
    """Case index -> case id from benchmark.json (empty when the file is absent)."""
    import json

    path = Path(bench_dir) / "benchmark.json"
    try:
        cases = json.loads(path.read_text(encoding="utf-8")).get("cases", [])
        return {i: str(c.get("id", i)) for i, c in enumerate(cases)}
    except (OSError, ValueError, AttributeError):
        return {}


def _check_compare(label: str, compare: list[tuple[str, Any]]) -> None:
    seen = {label}
    for name, _ in compare:
        if not name or not name.strip():
            raise CoinError("A compared model has an empty label.", "give it as LABEL=FOLDER.")
        if name in seen:
            raise CoinError(
                f"The row label '{name}' is used twice.", "give every model its own label (--label, LABEL=)."
            )
        seen.add(name)


def evaluate(
    model: Any,
    bench_dir: str | Path,
    settings: EvaluationSettings | None = None,
    *,
    singla_model: Any = None,
    compare_models: list[tuple[str, Any]] | None = None,
    label: str = "COIN",
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict:
    """Score the chosen methods on ``settings.split`` of ``bench_dir``; thresholds tuned on val.

    Args:
        model: a loaded COIN model (:func:`coin_core.modelfile.load_model`); its classifier is the
            frozen f that the attributions explain, whose features the Fréchet distance uses and
            that gates the classifier-gated baseline.
        bench_dir: a BENCH folder (``coin_core/data/benchmark.py``).
        settings: methods, splits, post-processing, RISE masks, ...
        singla_model: a model trained with method "singla"; needed when "singla" is asked for.
        compare_models: further COIN models as ``(label, model)``; each is a "coin" row of its own
            (key ``coin@LABEL``), tuned and scored like the main one at its own input size.
        label: the main model's row label.
        progress, should_stop: progress callback and cancel flag (checked once per batch).

    Returns:
        The results dictionary written to ``results.json`` (see ``coin_core/evaluation/report.py``).
    """
    s = settings or EvaluationSettings()
    s.validate()
    compare = list(compare_models or [])
    _check_compare(label, compare)
    if "singla" in s.methods and singla_model is None:
        raise CoinError(
            "Method 'singla' was asked for but no Singla model was given.",
            "pass --singla-model FOLDER (a model trained with coin train --config singla), or drop 'singla'.",
        )
    size = int(model.card.input_size)
    if singla_model is not None and int(singla_model.card.input_size) != size:
        raise CoinError(
            f"The Singla model's input size ({singla_model.card.input_size}) differs from the "
            f"COIN model's ({size}).",
            "train both models at the same input size.",
        )
    inception = None
    if s.inception_weights and (compare or any(m in COUNTERFACTUAL_METHODS for m in s.methods)):
        from coin_core.evaluation.inception import load_inception

        inception = load_inception(s.inception_weights, _device(model))
    vals: dict[Any, _Split] = {}
    tests: dict[Any, _Split] = {}

    def at(m: Any) -> tuple[_Split, _Split]:
        crop = getattr(m.card, "input_crop", None)
        key = (int(m.card.input_size), None if crop is None else tuple(crop.size_mm))
        if key not in tests:
            vals[key] = _load_split(bench_dir, s.val_split, size, m)
            tests[key] = _load_split(bench_dir, s.split, size, m)
        return vals[key], tests[key]

    test = at(model)[1]
    plan: list[_Method] = []
    for name in s.methods:
        row_label = label if name == "coin" else None
        plan.append(_Method(name, model, singla_model, s, should_stop, label=row_label))
        if name == "coin":
            plan += [_Method("coin", m, None, s, should_stop, f"coin@{lab}", lab) for lab, m in compare]
    if "coin" not in s.methods:
        plan = [_Method("coin", m, None, s, should_stop, f"coin@{lab}", lab) for lab, m in compare] + plan
    total = len(plan) + (1 if s.baselines else 0)
    rows: dict[str, dict] = {}
    for method in plan:
        t0 = time.monotonic()
        val, split = at(method.cf_model)
        tuned = _tune(method, val, s, progress, should_stop)
        res = {"kind": method.kind, "method": method.name, "label": method.label, "input_size": method.size}
        crop = getattr(method.cf_model.card, "input_crop", None)
        if crop is not None:
            res["input_crop"] = crop.to_dict()
        res.update(tuned)
        res.update(_score(method, split, tuned, s, progress, should_stop, inception))
        res.update(
            paper_threshold=method.paper[0],
            paper_postprocess=method.paper[1],
            seconds=round(time.monotonic() - t0, 2),
        )
        rows[method.key] = res
        report(
            progress,
            ProgressEvent(
                "method", len(rows), total, f"{method.label} done", {"micro_iou": res["micro_iou"]}
            ),
        )
    if s.baselines:
        rows.update(_score_baselines(model, test, s, progress, should_stop, (total, total)))
    _beats(rows)
    names = _case_names(bench_dir)
    for res in rows.values():
        res["per_case"] = {names.get(int(k), k): v for k, v in res["per_case"].items()}
    show_paper, why = paper_columns(bench_dir)
    return {
        "format": RESULTS_FORMAT,
        "bench": str(bench_dir),
        "split": s.split,
        "val_split": s.val_split,
        "n_slices": int(len(test.arrays.label)),
        "n_scored_slices": int(_scored_indices(test.arrays).size),
        "n_normal_slices": int((np.asarray(test.arrays.label) == 0).sum()),
        "n_source_slices": test.n_clusters,
        "input_size": size,
        "label": label,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "bootstrap": {
            "resamples": s.bootstrap_resamples,
            "seed": s.bootstrap_seed,
            "level": 0.95,
            "unit": "source slice (case, slice_index); a slice's lesion draws stay together",
            "n_source_slices": test.n_clusters,
        },
        "speckle": {
            "percentile": PERCENTILE,
            "lesion_margin_px": LESION_MARGIN_PX,
            "body": "tissue above the window's lower edge, closed, largest region, convex hull",
        },
        "feature_distance": "FD-classifier: Fréchet distance on the frozen classifier's penultimate "
        "features (not InceptionV3 FID)"
        + ("; fd_inception: FID InceptionV3 768-d features from the given weights" if inception else ""),
        "paper_columns": show_paper,
        "paper_columns_why": why,
        "methods": rows,
    }
