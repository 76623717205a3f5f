"""Axial slices to the model's square input and back, keeping the aspect ratio.

Choice (vs. the paper): the paper stretches every slice to 256 x 256 (docs/method.md §3.6, §11.13),
which distorts anatomy and lesion shapes differently for every in-plane size. Here the slice is
scaled so that its *longer* side becomes ``size`` and the shorter side is padded symmetrically:
images with -1.0 (air after the window), masks with 0. A model therefore sees the same physical
aspect ratio whatever the scan's matrix (in-plane pixels are assumed square, as in almost all
CT; anisotropic pixels are not resampled), and :func:`to_native` crops the padding and resizes back
to the exact native shape. Square slices (the usual 512 x 512) are unaffected by the choice.

Interpolation: images bilinear, antialiased when shrinking (512 -> 256 without antialiasing
aliases the noise texture); masks nearest ("nearest-exact"), so label values are never mixed.
Everything runs through ``torch.nn.functional.interpolate`` on the input's device, one call for a
whole stack (N, H, W). Both numpy arrays and torch tensors are accepted; the output type follows
the input. Measured with ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/data_slices_resize.py``
on this container (2-core CPU, torch 2.13 CPU): a 133 x 512 x 512 float32 stack to 256 takes about
0.10 s and back to 512 about 0.09 s (best of 3; uint8 masks 0.10 s / 0.06 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coin_core.errors import CoinError

IMAGE_PAD = -1.0
MASK_PAD = 0


@dataclass(frozen=True)
class SliceGeometry:
    """How one native slice shape maps into the square model input.

    Attributes:
        native_shape: (rows, cols) of the native slice.
        size: side of the square model input.
        scaled_shape: (rows, cols) of the resized slice inside the square.
        pad: (top, left) offsets of the resized slice inside the square.
    """

    native_shape: tuple[int, int]
    size: int
    scaled_shape: tuple[int, int]
    pad: tuple[int, int]


def plan_slice(native_shape: tuple[int, ...], size: int) -> SliceGeometry:
    """Geometry for native slices of ``native_shape`` (rows, cols; a leading N is ignored)."""
    shape = tuple(int(s) for s in native_shape)[-2:]
    if len(shape) != 2 or min(shape) < 1:
        raise CoinError(
            f"An axial slice of shape {native_shape} cannot be resized for the model: it needs at least "
            "one row and one column.",
            "give a 3D CT volume with non-empty axial slices.",
        )
    if int(size) < 1:
        raise CoinError(
            f"The model input size is {size}; it must be 1 pixel or more.",
            "check input_size in the model's model.json or the training config.",
        )
    size = int(size)
    h, w = shape
    scale = size / max(h, w)
    sh = size if h >= w else max(1, min(size, round(h * scale)))
    sw = size if w >= h else max(1, min(size, round(w * scale)))
    return SliceGeometry((h, w), size, (sh, sw), ((size - sh) // 2, (size - sw) // 2))


def _as_stack(x: Any, expect: tuple[int, int], what: str):
    import torch

    is_np = not isinstance(x, torch.Tensor)
    if is_np:
        x = np.asarray(x)
        try:
            t = torch.from_numpy(np.ascontiguousarray(x))
        except TypeError:  # dtypes torch lacks (uint16, uint32, ...)
            t = torch.from_numpy(x.astype(np.float64))
    else:
        t = x
    if t.ndim not in (2, 3) or tuple(t.shape[-2:]) != tuple(expect):
        raise CoinError(
            f"{what}: expected a slice (H, W) or stack (N, H, W) with H, W = {tuple(expect)}, "
            f"got shape {tuple(t.shape)}.",
            "plan the geometry with plan_slice() for this slice shape.",
        )
    squeeze = t.ndim == 2
    t = t.reshape(-1, 1, *t.shape[-2:])
    return t, is_np, squeeze, x.dtype


def _resize(t, shape: tuple[int, int], kind: str):
    import torch.nn.functional as F

    if tuple(t.shape[-2:]) == tuple(shape):
        return t.float().clone()  # never alias the caller's array
    if kind == "mask":
        return F.interpolate(t.float(), size=shape, mode="nearest-exact")
    shrink = shape[0] < t.shape[-2] or shape[1] < t.shape[-1]
    return F.interpolate(t.float(), size=shape, mode="bilinear", align_corners=False, antialias=shrink)


def _finish(t, is_np: bool, squeeze: bool, dtype: Any, kind: str):
    t = t[:, 0]
    if squeeze:
        t = t[0]
    if kind == "mask":
        if is_np:
            return t.cpu().numpy().astype(dtype, copy=False)
        return t.to(dtype)
    return t.cpu().numpy().astype(np.float32, copy=False) if is_np else t


def _check_kind(kind: str) -> None:
    if kind not in ("image", "mask"):
        raise CoinError(f"kind must be 'image' or 'mask', got {kind!r}.")


def to_model(x: Any, geom: SliceGeometry, kind: str = "image", pad_value: float | None = None) -> Any:
    """Native slice (H, W) or stack (N, H, W) -> (size, size) or (N, size, size).

    Images come back float32 (numpy in, numpy out; tensors stay on their device), padded with
    ``pad_value`` (default -1.0 = air); masks keep their dtype, nearest interpolation, padded with 0.
    """
    import torch.nn.functional as F

    _check_kind(kind)
    t, is_np, squeeze, dtype = _as_stack(x, geom.native_shape, "to_model")
    t = _resize(t, geom.scaled_shape, kind)
    top, left = geom.pad
    bottom = geom.size - geom.scaled_shape[0] - top
    right = geom.size - geom.scaled_shape[1] - left
    if top or left or bottom or right:
        value = (IMAGE_PAD if kind == "image" else MASK_PAD) if pad_value is None else pad_value
        t = F.pad(t, (left, right, top, bottom), mode="constant", value=float(value))
    return _finish(t, is_np, squeeze, dtype, kind)


def to_native(x: Any, geom: SliceGeometry, kind: str = "image") -> Any:
    """Model slice (size, size) or stack (N, size, size) -> native (H, W) / (N, H, W).

    Crops the padding and resizes back to ``geom.native_shape`` exactly. Images (and any
    continuous map such as a difference map) are bilinear; masks nearest and keep their dtype.
    """
    _check_kind(kind)
    t, is_np, squeeze, dtype = _as_stack(x, (geom.size, geom.size), "to_native")
    top, left = geom.pad
    t = t[..., top : top + geom.scaled_shape[0], left : left + geom.scaled_shape[1]]
    t = _resize(t, geom.native_shape, kind)
    return _finish(t, is_np, squeeze, dtype, kind)
