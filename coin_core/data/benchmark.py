"""Prepared slice sets ("BENCH" folders): the arrays, their files, and the reader.

Layout (docs/internals.md, "Prepared slice sets")::

    BENCH/benchmark.json               summary: format, input_size, window, host, cases, splits, lesions, seed
    BENCH/{train,val,test}.npz         np.savez_compressed, no pickle; the arrays of SliceArrays

The writer that builds a benchmark from an nnU-Net dataset is :mod:`coin_core.data.benchmark_build`;
this module only stores and loads the arrays, so training and evaluation code import little.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.fileutil import atomic_path
from coin_core.jsonfile import read_json

FORMAT = "coin-slices/1"
SPLITS = ("train", "val", "test")
#: array name -> (dtype, number of dimensions)
ARRAY_SPEC: dict[str, tuple[type, int]] = {
    "image": (np.float16, 3),
    "label": (np.uint8, 1),
    "lesion": (np.uint8, 3),
    "has_mask": (np.uint8, 1),
    "host": (np.uint8, 3),
    "case": (np.int32, 1),
    "slice_index": (np.int32, 1),
    "draw": (np.int32, 1),
}


@dataclass
class SliceArrays:
    """One split of a prepared slice set (N samples of S x S pixels).

    Attributes:
        image: (N, S, S) float16, normalised slice in [-1, 1], lesion pasted where label = 1.
        label: (N,) uint8 slice label (1 = abnormal).
        lesion: (N, S, S) uint8 ground-truth lesion mask (zeros where none / unknown).
        has_mask: (N,) uint8, 1 where pixel ground truth exists.
        host: (N, S, S) uint8 host-organ mask.
        case: (N,) int32 index into benchmark.json "cases".
        slice_index: (N,) int32 native axial index k (canonical orientation).
        draw: (N,) int32 lesion draw number.
    """

    image: np.ndarray
    label: np.ndarray
    lesion: np.ndarray
    has_mask: np.ndarray
    host: np.ndarray
    case: np.ndarray
    slice_index: np.ndarray
    draw: np.ndarray

    def __post_init__(self) -> None:
        for name, (dtype, _) in ARRAY_SPEC.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        self.validate("SliceArrays")

    def validate(self, source: str) -> None:
        """Raise a :class:`CoinError` naming ``source`` when shapes disagree."""
        n = self.image.shape[0] if self.image.ndim == 3 else -1
        for name, (_, ndim) in ARRAY_SPEC.items():
            arr = getattr(self, name)
            if arr.ndim != ndim or arr.shape[0] != n:
                raise CoinError(
                    f"{source}: array '{name}' has shape {arr.shape}; expected {ndim} dimensions and "
                    f"{n} samples like 'image' {self.image.shape}.",
                    "rebuild the slice set with 'coin data synth-lesions'.",
                )
        for name in ("lesion", "host"):
            if getattr(self, name).shape != self.image.shape:
                raise CoinError(
                    f"{source}: '{name}' has shape {getattr(self, name).shape} but 'image' has "
                    f"{self.image.shape}.",
                    "rebuild the slice set with 'coin data synth-lesions'.",
                )
        if self.image.ndim == 3 and self.image.shape[1] != self.image.shape[2]:
            raise CoinError(f"{source}: slices must be square, got {self.image.shape[1:]}.")

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @property
    def size(self) -> int:
        """Side S of the square slices."""
        return int(self.image.shape[1])

    def subset(self, index: Any) -> SliceArrays:
        """The samples selected by ``index`` (boolean mask or integer indices)."""
        return SliceArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concatenate(cls, parts: list[SliceArrays], size: int) -> SliceArrays:
        """Join several parts; an empty list gives an empty set of ``size`` x ``size`` slices."""
        if not parts:
            empty = {n: np.zeros((0, size, size) if d == 3 else (0,), t) for n, (t, d) in ARRAY_SPEC.items()}
            return cls(**empty)
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in ARRAY_SPEC})

    def resized(self, size: int) -> SliceArrays:
        """Resampled copy (image bilinear, masks nearest) at ``size`` x ``size``."""
        from coin_core.data.slices import plan_slice, to_model

        if size == self.size:
            return self
        geom = plan_slice((self.size, self.size), size)
        out = {n: getattr(self, n) for n in ARRAY_SPEC}
        if len(self):
            out["image"] = to_model(self.image.astype(np.float32), geom, "image").astype(np.float16)
            out["lesion"] = to_model(self.lesion, geom, "mask")
            out["host"] = to_model(self.host, geom, "mask")
        else:
            for n in ("image", "lesion", "host"):
                out[n] = np.zeros((0, size, size), ARRAY_SPEC[n][0])
        return SliceArrays(**out)


def split_path(bench_dir: str | os.PathLike[str], split: str) -> Path:
    """``BENCH/<split>.npz``; unknown split names raise a :class:`CoinError`."""
    if split not in SPLITS:
        raise CoinError(f"Unknown split {split!r}.", f"use one of {', '.join(SPLITS)}.")
    return Path(bench_dir) / f"{split}.npz"


def save_split(bench_dir: str | os.PathLike[str], split: str, arrays: SliceArrays) -> Path:
    """Write ``BENCH/<split>.npz`` atomically (compressed, no pickle)."""
    path = split_path(bench_dir, split)
    arrays.validate(str(path))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{n: getattr(arrays, n) for n in ARRAY_SPEC})
    return path


def load_split(bench_dir: str | os.PathLike[str], split: str, size: int | None = None) -> SliceArrays:
    """Read ``BENCH/<split>.npz``.

    Args:
        bench_dir: the prepared slice set folder.
        split: "train", "val" or "test".
        size: resample once to ``size`` x ``size`` when it differs from the stored size.

    Raises:
        CoinError: missing file, missing arrays, wrong dtypes or shapes (naming the file).
    """
    path = split_path(bench_dir, split)
    if not path.is_file():
        raise CoinError(
            f"Slice set file not found: {path}",
            "build the slice set with 'coin data synth-lesions --data DIR --out BENCH'.",
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [n for n in ARRAY_SPEC if n not in z.files]
            if missing:
                raise CoinError(
                    f"{path} lacks the arrays {missing}.", "rebuild it with 'coin data synth-lesions'."
                )
            data = {n: z[n] for n in ARRAY_SPEC}
    except (OSError, ValueError) as err:
        raise CoinError(f"Cannot read {path}: {err}", "rebuild it with 'coin data synth-lesions'.") from None
    for name, (dtype, _) in ARRAY_SPEC.items():
        if data[name].dtype != dtype:
            raise CoinError(
                f"{path}: array '{name}' has dtype {data[name].dtype}, expected {np.dtype(dtype).name}.",
                "rebuild it with 'coin data synth-lesions'.",
            )
    arrays = SliceArrays(**data)
    arrays.validate(str(path))
    if size is not None and int(size) != arrays.size:
        arrays = arrays.resized(int(size))
    return arrays


def read_benchmark_json(bench_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``BENCH/benchmark.json`` (format "coin-slices/1")."""
    path = Path(bench_dir) / "benchmark.json"
    if not path.is_file():
        raise CoinError(
            f"Not a prepared slice set: {path} is missing.",
            "build one with 'coin data synth-lesions --data DIR --out BENCH'.",
        )
    meta = read_json(path, "rebuild the slice set.")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CoinError(
            f"{path}: unknown format {found!r}; this version reads {FORMAT!r}.",
            "rebuild the slice set with this version's 'coin data synth-lesions'.",
        )
    for key in ("input_size", "window", "splits", "cases"):
        if key not in meta:
            raise CoinError(f"{path}: field {key!r} is missing.", "rebuild the slice set.")
    return meta


def write_benchmark_json(bench_dir: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write ``BENCH/benchmark.json`` atomically."""
    path = Path(bench_dir) / "benchmark.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path
