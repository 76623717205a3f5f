"""The gate statistic: Mahalanobis distances in the classifier's pooled stage features.

For each stage l of ``layers`` (ResNet stages, global-average pooled) the training slices give a
mean ``mu_l`` and a covariance, shrunk towards a scaled identity by the Ledoit-Wolf rule (a few
hundred samples of few distinct slices do not determine a 128- or 512-dimensional covariance). A
slice's distance in stage l is ``d_l = sqrt((f - mu_l)^T S_l^-1 (f - mu_l))``; its gate score is the
mean over stages of ``d_l / s_l``, where ``s_l`` is the median ``d_l`` over the validation slices
(so each stage weighs the same). The threshold is ``margin`` times the ``quantile`` of the
validation scores; a slice passes when its score is at most the threshold. docs/anatomy_gate.md
has the measurements behind the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coin_core.errors import CoinError

DEFAULT_LAYERS = ("layer2", "layer3", "layer4")
"""Stages whose pooled features the gate uses (layer1 is too local, the logit too task-specific)."""
DEFAULT_QUANTILE = 0.99
"""Quantile of the validation scores the threshold starts from."""
DEFAULT_MARGIN = 1.5
"""Threshold = margin x that quantile: half again the validation spread, for unseen normal anatomy."""


@dataclass(frozen=True)
class AnatomyGate:
    """A fitted gate.

    Attributes:
        layers: classifier stage names, in order.
        means: per stage, the training mean (C_l,) float64.
        precisions: per stage, the inverse shrunk covariance (C_l, C_l) float64.
        scales: per stage, the median validation distance (the score's unit).
        threshold: slices with a score above it are outside the training anatomy.
        shrinkage: per stage, the Ledoit-Wolf shrinkage used (0 = sample covariance, 1 = identity).
    """

    layers: tuple[str, ...]
    means: tuple[np.ndarray, ...]
    precisions: tuple[np.ndarray, ...]
    scales: tuple[float, ...]
    threshold: float
    shrinkage: tuple[float, ...] = ()

    def scores(self, features: list[np.ndarray]) -> np.ndarray:
        """Gate scores (N,) of per-stage features ``features[l]`` (N, C_l)."""
        if len(features) != len(self.layers):
            raise CoinError(f"The gate needs {len(self.layers)} feature arrays, got {len(features)}.")
        total = np.zeros(len(features[0]), dtype=np.float64)
        for f, mu, prec, scale in zip(features, self.means, self.precisions, self.scales, strict=True):
            total += mahalanobis(np.asarray(f, dtype=np.float64), mu, prec) / scale
        return total / len(self.layers)

    def passes(self, scores: np.ndarray) -> np.ndarray:
        """True where a score lies inside the training anatomy."""
        return np.asarray(scores) <= self.threshold


def mahalanobis(f: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """sqrt((f - mean)^T P (f - mean)) per row of ``f`` (N, C)."""
    y = f - mean
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", y, precision, y), 0.0))


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, shrunk covariance, shrinkage) of samples ``x`` (N, C) by the Ledoit-Wolf (2004) rule."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape
    mean = x.mean(axis=0)
    y = x - mean
    cov = y.T @ y / n
    mu = float(np.trace(cov)) / c
    target = mu * np.eye(c)
    delta = float(np.sum((cov - target) ** 2))
    # beta = mean over samples of ||y y^T - cov||_F^2 / n, computed without the N outer products
    sq = np.sum(y**2, axis=1)
    beta = (float(np.sum(sq**2)) - 2.0 * float(np.sum((y @ cov) * y)) + n * float(np.sum(cov**2))) / n**2
    shrink = 1.0 if delta <= 0.0 else min(max(beta, 0.0), delta) / delta
    if mu <= 0.0:  # constant features: any distance is 0
        return mean, np.eye(c), 1.0
    return mean, (1.0 - shrink) * cov + shrink * target, shrink


def fit_gate(
    train: list[np.ndarray],
    val: list[np.ndarray],
    layers: tuple[str, ...] = DEFAULT_LAYERS,
    quantile: float = DEFAULT_QUANTILE,
    margin: float = DEFAULT_MARGIN,
) -> tuple[AnatomyGate, np.ndarray]:
    """Fit a gate: statistics from the training features, scale and threshold from the validation ones.

    Args:
        train: per stage, the training slices' features (N_train, C_l).
        val: per stage, the validation slices' features (N_val, C_l).
        layers: the stage names (one per array).
        quantile: quantile of the validation scores the threshold starts from, in (0, 1].
        margin: threshold = margin x that quantile (>= 1).

    Returns:
        (the gate, the validation scores).
    """
    if not 0.0 < quantile <= 1.0:
        raise CoinError(f"Gate quantile {quantile} is outside (0, 1].", "use e.g. 0.99.")
    if margin < 1.0:
        raise CoinError(
            f"Gate margin {margin} is below 1: validation slices would fall outside.", "use e.g. 1.5."
        )
    if len(train) != len(layers) or len(val) != len(layers):
        raise CoinError(f"fit_gate: expected {len(layers)} feature arrays per split.")
    if min(len(train[0]), len(val[0])) < 2:
        raise CoinError(
            f"The gate needs at least 2 training and 2 validation slices (got {len(train[0])} and "
            f"{len(val[0])}).",
            "fit it on the slice set the model was trained on (its train and val splits).",
        )
    means, precisions, scales, shrinks = [], [], [], []
    for f_train, f_val in zip(train, val, strict=True):
        mean, cov, shrink = ledoit_wolf(f_train)
        precision = np.linalg.pinv(cov, hermitian=True)
        d_val = mahalanobis(np.asarray(f_val, dtype=np.float64), mean, precision)
        means.append(mean)
        precisions.append(precision)
        scales.append(max(float(np.median(d_val)), 1e-12))
        shrinks.append(float(shrink))
    partial = AnatomyGate(
        tuple(layers), tuple(means), tuple(precisions), tuple(scales), np.inf, tuple(shrinks)
    )
    val_scores = partial.scores(val)
    threshold = float(margin * np.quantile(val_scores, quantile))
    gate = AnatomyGate(
        tuple(layers), tuple(means), tuple(precisions), tuple(scales), threshold, tuple(shrinks)
    )
    return gate, val_scores
