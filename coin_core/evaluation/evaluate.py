"""One routine that scores every method on the same fixed slices with the same policy.

Protocol (docs/method.md §11.3, the fair version of the paper's §8):

* Every method is scored on the GT-abnormal slices with pixel ground truth (``label == 1`` and
  ``has_mask == 1``) of one saved split of a BENCH folder, so all of them see the same lesion draws.
* Maps are in [0, 1]: ``|x - x_cf|`` in [0, 1] intensity units for the counterfactual methods (coin,
  singla), per-image min-max maps for the attributions (rise, scorecam, layercam, gradcam).
* Each method's threshold is chosen on the validation split by maximising the micro IoU, with the
  same post-processing policy (``postprocess``) applied to every method.
* The paper's fixed protocol is reported as well: 0.25 with the paper's clean-up for the
  counterfactual methods, 0.975 without clean-up for the attributions.
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
from coin_core.evaluation.metrics import (
    FeatureStats,
    GroupedScores,
    MicroIoU,
    counterfactual_validity,
    frechet_distance_from_stats,
)
from coin_core.evaluation.thresholds import (
    PAPER_ATTRIBUTION,
    PAPER_COUNTERFACTUAL,
    POSTPROCESS_CHOICES,
    ThresholdSweep,
    binarize,
)
from coin_core.models.conditioning import difference_map
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report

COUNTERFACTUAL_METHODS = ("coin", "singla")
ALL_METHODS = COUNTERFACTUAL_METHODS + ATTRIBUTION_METHODS
RESULTS_FORMAT = "coin-evaluation/1"


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
        tau: CV margin.
        seed: RISE mask seed.
        inception_weights: optional safetensors file of the FID InceptionV3; when given, an
            Inception Fréchet distance (``fd_inception``) is reported next to FD-classifier.
    """

    methods: tuple[str, ...] = ALL_METHODS
    split: str = "test"
    val_split: str = "val"
    postprocess: str = "paper"
    rise_masks: int = 6000
    batch_size: int = 16
    max_val_slices: int | None = None
    thresholds: tuple[float, ...] | None = None
    tau: float = 0.8
    seed: int = 0
    inception_weights: str | None = None

    def validate(self) -> None:
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
        if self.rise_masks < 1 or self.batch_size < 1:
            raise CoinError(
                f"rise_masks and batch_size must be >= 1; got {self.rise_masks}, {self.batch_size}."
            )


def _device(model: Any) -> Any:
    return _device_of(model.classifier)


def _device_of(module: Any) -> Any:
    return next(module.parameters()).device


def _scored_indices(arrays: Any, limit: int | None = None) -> np.ndarray:
    idx = np.flatnonzero((np.asarray(arrays.label) == 1) & (np.asarray(arrays.has_mask) == 1))
    if limit is not None and idx.size > limit:
        idx = idx[np.unique(np.linspace(0, idx.size - 1, limit).round().astype(int))]
    return idx


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
    """Produces [B,1,S,S] maps in [0,1] for one method (and counterfactuals when it has them)."""

    def __init__(self, name: str, model: Any, singla: Any, settings: EvaluationSettings, stop: Any) -> None:
        self.name = name
        self.kind = "counterfactual" if name in COUNTERFACTUAL_METHODS else "attribution"
        self.cf_model = singla if name == "singla" else model
        self.classifier = model.classifier
        self.settings = settings
        self.stop = stop
        self.paper = PAPER_COUNTERFACTUAL if self.kind == "counterfactual" else PAPER_ATTRIBUTION

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


def _tune(method: _Method, arrays: Any, s: EvaluationSettings, progress: Any, stop: Any) -> dict:
    idx = _scored_indices(arrays, s.max_val_slices)
    if idx.size == 0:
        raise CoinError(
            f"The '{s.val_split}' split has no abnormal slices with pixel ground truth "
            "to tune thresholds on.",
            "evaluate on a BENCH folder built with synthetic lesions (coin data synth-lesions).",
        )
    sweep = ThresholdSweep(s.thresholds, s.postprocess)
    dev = _device(method.cf_model)
    batches = [idx[i : i + s.batch_size] for i in range(0, idx.size, s.batch_size)]
    for n, b in enumerate(batches, 1):
        maps = method.maps(_batch(arrays, b, dev))
        sweep.update(maps[:, 0].detach().cpu().numpy(), np.asarray(arrays.lesion[b]))
        check_stop(stop)
        report(
            progress, ProgressEvent(f"{method.name}:val", n, len(batches), f"{method.name}: tuning on val")
        )
    res = sweep.result()
    return {
        "threshold": res.best_threshold,
        "val_micro_iou": res.best_iou,
        "n_val_slices": int(idx.size),
        "sweep": {"thresholds": res.thresholds, "micro_iou": res.ious},
    }


class _Scores:
    """Test-split accumulators for one method."""

    def __init__(self) -> None:
        self.tuned, self.paper = MicroIoU(), MicroIoU()
        self.cases, self.slices, self.paper_cases = GroupedScores(), GroupedScores(), GroupedScores()
        self.n = 0

    def update(
        self,
        maps: np.ndarray,
        gt: np.ndarray,
        cases: np.ndarray,
        rows: np.ndarray,
        m: _Method,
        threshold: float,
        postprocess: str,
    ) -> None:
        pred = binarize(maps, threshold, postprocess)
        paper = binarize(maps, *m.paper)
        self.tuned.update(pred, gt)
        self.paper.update(paper, gt)
        self.cases.update(pred, gt, cases)
        self.paper_cases.update(paper, gt, cases)
        self.slices.update(pred, gt, rows)
        self.n += maps.shape[0]

    def to_dict(self) -> dict:
        return {
            "micro_iou": self.tuned.iou(),
            "micro_dice": self.tuned.dice(),
            "mean_case_dice": self.cases.mean("dice"),
            "mean_case_iou": self.cases.mean("iou"),
            "mean_slice_dice": self.slices.mean("dice"),
            "mean_slice_iou": self.slices.mean("iou"),
            "paper_micro_iou": self.paper.iou(),
            "paper_micro_dice": self.paper.dice(),
            "paper_mean_case_dice": self.paper_cases.mean("dice"),
            "n_slices": self.n,
            "per_case": {str(k): v for k, v in self.cases.per_group().items()},
        }


def _score(
    method: _Method,
    arrays: Any,
    threshold: float,
    s: EvaluationSettings,
    progress: Any,
    stop: Any,
    inception: Any = None,
) -> dict:
    import torch

    scored = np.zeros(len(arrays.label), bool)
    scored[_scored_indices(arrays)] = True
    # counterfactual methods run on every slice (CV and FD need them all); attributions on scored ones
    rows = np.arange(scored.size) if method.kind == "counterfactual" else np.flatnonzero(scored)
    scores, real, fake = _Scores(), FeatureStats(), FeatureStats()
    inc_real, inc_fake = FeatureStats(), FeatureStats()
    p_all, pcf_all = [], []
    dev = _device(method.cf_model)
    batches = [rows[i : i + s.batch_size] for i in range(0, rows.size, s.batch_size)]
    for n, b in enumerate(batches, 1):
        x = _batch(arrays, b, dev)
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
            maps = difference_map(x, x_cf)[:, 0].cpu().numpy()
        else:
            maps = method.maps(x)[:, 0].detach().cpu().numpy()
        keep = scored[b]
        if keep.any():
            bk = b[keep]
            scores.update(
                maps[keep],
                np.asarray(arrays.lesion[bk]),
                np.asarray(arrays.case[bk]),
                bk,
                method,
                threshold,
                s.postprocess,
            )
        check_stop(stop)
        report(
            progress, ProgressEvent(f"{method.name}:{s.split}", n, len(batches), f"{method.name}: scoring")
        )
    out = scores.to_dict()
    out.update(cv=None, cv_n=0, cf_normal_rate=None, fd_classifier=None, fd_inception=None)
    if method.kind == "counterfactual" and p_all:
        p, p_cf = np.concatenate(p_all), np.concatenate(pcf_all)
        cv, cv_n = counterfactual_validity(p, p_cf, s.tau)
        out.update(cv=None if math.isnan(cv) else cv, cv_n=cv_n, cf_normal_rate=float(np.mean(p_cf < 0.5)))
        if real.n >= 2:
            out["fd_classifier"] = frechet_distance_from_stats(*real.mean_cov(), *fake.mean_cov())
        if inc_real.n >= 2:
            out["fd_inception"] = frechet_distance_from_stats(*inc_real.mean_cov(), *inc_fake.mean_cov())
    return out


def _case_names(bench_dir: str | Path) -> dict[int, str]:
    """Case index -> case id from benchmark.json (empty when the file is absent)."""
    import json

    path = Path(bench_dir) / "benchmark.json"
    try:
        cases = json.loads(path.read_text(encoding="utf-8")).get("cases", [])
        return {i: str(c.get("id", i)) for i, c in enumerate(cases)}
    except (OSError, ValueError, AttributeError):
        return {}


def evaluate(
    model: Any,
    bench_dir: str | Path,
    settings: EvaluationSettings | None = None,
    *,
    singla_model: Any = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict:
    """Score the chosen methods on ``settings.split`` of ``bench_dir``; thresholds tuned on val.

    Args:
        model: a loaded COIN model (:func:`coin_core.modelfile.load_model`); its classifier is the
            frozen f that the attributions explain and whose features the Fréchet distance uses.
        bench_dir: a BENCH folder (``coin_core/data/benchmark.py``).
        settings: methods, splits, post-processing, RISE masks, ...
        singla_model: a model trained with method "singla"; needed when "singla" is asked for.
        progress, should_stop: progress callback and cancel flag (checked once per batch).

    Returns:
        The results dictionary written to ``results.json`` (see ``coin_core/evaluation/report.py``).
    """
    from coin_core.data.benchmark import load_split

    s = settings or EvaluationSettings()
    s.validate()
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
    if s.inception_weights and any(m in COUNTERFACTUAL_METHODS for m in s.methods):
        from coin_core.evaluation.inception import load_inception

        inception = load_inception(s.inception_weights, _device(model))
    val = load_split(bench_dir, s.val_split, size=size)
    test = load_split(bench_dir, s.split, size=size)
    methods: dict[str, Any] = {}
    for name in s.methods:
        t0 = time.monotonic()
        method = _Method(name, model, singla_model, s, should_stop)
        tuned = _tune(method, val, s, progress, should_stop)
        res = {"kind": method.kind, **tuned}
        res.update(_score(method, test, tuned["threshold"], s, progress, should_stop, inception))
        res.update(
            paper_threshold=method.paper[0],
            paper_postprocess=method.paper[1],
            seconds=round(time.monotonic() - t0, 2),
        )
        methods[name] = res
        report(
            progress,
            ProgressEvent(
                "method", len(methods), len(s.methods), f"{name} done", {"micro_iou": res["micro_iou"]}
            ),
        )
    n_scored = int(_scored_indices(test).size)
    names = _case_names(bench_dir)
    for res in methods.values():
        res["per_case"] = {names.get(int(k), k): v for k, v in res["per_case"].items()}
    return {
        "format": RESULTS_FORMAT,
        "bench": str(bench_dir),
        "split": s.split,
        "val_split": s.val_split,
        "n_slices": int(len(test.label)),
        "n_scored_slices": n_scored,
        "input_size": size,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "feature_distance": "FD-classifier: Fréchet distance on the frozen classifier's penultimate "
        "features (not InceptionV3 FID)"
        + ("; fd_inception: FID InceptionV3 768-d features from the given weights" if inception else ""),
        "methods": methods,
    }
