"""CT intensity window: HU percentiles of the foreground, and the map to [-1, 1].

The paper's normaliser (docs/method.md §3.3) z-scores and then maps [p0.5, p99.5] linearly to [-1, 1];
the mean and standard deviation cancel, so only the two percentiles matter. We state the window
explicitly as ``IntensityWindow(lo, hi)``::

    x = 2 * (clip(HU, lo, hi) - lo) / (hi - lo) - 1

:func:`compute_window` fixes the two bugs of the original fingerprint script (docs/method.md §11.7):
every requested foreground label is honoured (the original loop skipped the last label), and the
statistics are computed on whatever cases the caller passes, which must be the *training* cases
only (the original pooled train and test scans). Cases are read and sampled one at a time, so
memory holds one volume plus the pooled samples, never every volume at once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.fileutil import atomic_path
from coin_core.progress import ProgressCallback, ProgressEvent, StopCallback, check_stop, report


@dataclass(frozen=True)
class IntensityWindow:
    """HU window ``[lo, hi]`` mapped to ``[-1, 1]``; values outside saturate."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        _validate(self.lo, self.hi, source="IntensityWindow")

    def normalize(self, hu: Any) -> Any:
        """HU -> float32 in [-1, 1] (numpy array, scalar or torch tensor)."""
        scale = 2.0 / (self.hi - self.lo)
        if _is_tensor(hu):
            return (hu.float().clamp(self.lo, self.hi) - self.lo) * scale - 1.0
        x = np.clip(np.asarray(hu, dtype=np.float32), self.lo, self.hi)
        return ((x - np.float32(self.lo)) * np.float32(scale) - np.float32(1.0)).astype(np.float32)

    def denormalize(self, x: Any) -> Any:
        """[-1, 1] -> HU (float32). Saturated values come back as ``lo`` / ``hi``."""
        half = (self.hi - self.lo) / 2.0
        if _is_tensor(x):
            return (x.float() + 1.0) * half + self.lo
        x = np.asarray(x, dtype=np.float32)
        return ((x + np.float32(1.0)) * np.float32(half) + np.float32(self.lo)).astype(np.float32)

    def to_dict(self) -> dict[str, float]:
        """``{"lo": .., "hi": ..}`` (plain floats, JSON-ready)."""
        return {"lo": float(self.lo), "hi": float(self.hi)}

    @classmethod
    def from_dict(cls, d: Any, source: str = "window") -> IntensityWindow:
        """Build from ``{"lo": .., "hi": ..}``; ``source`` names the file/field in errors."""
        if not isinstance(d, dict) or "lo" not in d or "hi" not in d:
            raise CoinError(
                f"{source}: expected an object with 'lo' and 'hi', got {d!r}.",
                'write the window as {"lo": <HU>, "hi": <HU>}.',
            )
        try:
            lo, hi = float(d["lo"]), float(d["hi"])
        except (TypeError, ValueError):
            raise CoinError(
                f"{source}: 'lo' and 'hi' must be numbers, got lo={d['lo']!r}, hi={d['hi']!r}.",
                "write them as plain numbers in HU.",
            ) from None
        _validate(lo, hi, source=source)
        return cls(lo, hi)

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write ``{"lo": .., "hi": ..}`` atomically."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> IntensityWindow:
        """Read a window JSON written by :meth:`save_json`; errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise CoinError(f"Window file not found: {path}", "check the path.")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CoinError(f"Window file {path} is not valid JSON: {err}", "rewrite it.") from None
        return cls.from_dict(d, source=str(path))


def _validate(lo: float, hi: float, source: str) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CoinError(f"{source}: window bounds must be finite, got lo={lo}, hi={hi}.", "fix the values.")
    if not lo < hi:
        raise CoinError(f"{source}: window needs lo < hi, got lo={lo}, hi={hi}.", "fix the values.")


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "clamp")


def _load_case(case: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """A case is (image, label) given as two paths or as two arrays / Volumes."""
    try:
        image, label = case
    except (TypeError, ValueError):
        raise CoinError(
            f"compute_window: each case must be a pair (image, label), got {type(case).__name__}.",
            "pass (image_path, label_path) or (image_array, label_array) pairs.",
        ) from None
    name = str(image) if isinstance(image, (str, os.PathLike)) else "array case"
    arrays = []
    for item in (image, label):
        if isinstance(item, (str, os.PathLike)):
            from coin_core.io import read_volume

            item = read_volume(item)
        arrays.append(np.asarray(getattr(item, "array", item)))
    img, lab = arrays
    if img.shape != lab.shape:
        raise CoinError(
            f"compute_window: image {name} has shape {img.shape} but its label map has {lab.shape}.",
            "pair each image with the label map of the same case.",
        )
    return img, lab, name


def compute_window(
    cases: Iterable[Any],
    foreground_labels: Sequence[int],
    percentiles: tuple[float, float] = (0.5, 99.5),
    max_voxels_per_case: int = 1_000_000,
    seed: int = 1234,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> IntensityWindow:
    """HU percentiles of foreground voxels pooled over the (training) cases.

    Args:
        cases: iterable (a generator is fine) of (image, label) pairs: file paths, arrays or
            Volumes. Pass the training cases only. Consumed one case at a time.
        foreground_labels: label ids counted as foreground (all of them are honoured).
        percentiles: lower and upper percentile, default (0.5, 99.5) as in the paper.
        max_voxels_per_case: per case, at most this many foreground voxels are drawn (without
            replacement, fixed seed); cases with fewer contribute all of theirs.
        seed: seed of the per-case sampling (case i uses ``default_rng([seed, i])``).
        progress: receives one ``"window"`` event per case.
        should_stop: cancellation callback, checked once per case.

    Returns:
        The window ``IntensityWindow(p_low, p_high)``.
    """
    fg = np.asarray(sorted({int(v) for v in foreground_labels}))
    if fg.size == 0:
        raise CoinError(
            "No foreground label ids were given for the intensity window.", "pass e.g. [1] for kidney."
        )
    lo_p, hi_p = percentiles
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise CoinError(
            f"The intensity window's percentiles {percentiles} are not in order within 0..100.",
            "use 0 <= low < high <= 100.",
        )
    if max_voxels_per_case < 1:
        raise CoinError(
            f"The intensity window samples {max_voxels_per_case} voxels per case; it needs 1 or more.",
            "use a positive number of voxels per case.",
        )
    samples: list[np.ndarray] = []
    n = 0
    for i, case in enumerate(cases):
        check_stop(should_stop)
        img, lab, name = _load_case(case)
        values = img[np.isin(lab, fg)]
        del img, lab
        if values.size > max_voxels_per_case:
            rng = np.random.default_rng([seed, i])
            values = values[rng.choice(values.size, size=max_voxels_per_case, replace=False)]
        samples.append(values.astype(np.float32))
        n = i + 1
        report(progress, ProgressEvent("window", n, None, f"sampled {values.size} voxels from {name}"))
    if n == 0:
        raise CoinError("compute_window: no cases given.", "pass at least one training case.")
    pooled = np.concatenate(samples)
    if pooled.size == 0:
        raise CoinError(
            f"compute_window: no voxel carries the foreground labels {fg.tolist()} in {n} case(s).",
            "check the label ids against the dataset's dataset.json.",
        )
    lo, hi = np.percentile(pooled.astype(np.float64), [lo_p, hi_p])
    if not lo < hi:
        raise CoinError(
            f"compute_window: foreground intensities are constant ({lo} HU); cannot form a window.",
            "check that the image and label files match.",
        )
    return IntensityWindow(float(lo), float(hi))
