"""The host-organ box: the model sees a fixed-size box around the host organ, not the whole slice.

A recipe key (``crop: {size_mm: [rows, cols]}``, docs/recipes.md "Host-organ box") and a model card
entry (``input_crop``). With it, every slice the model sees is the box of ``size_mm`` (rows =
anterior-posterior extent, columns = right-left extent, in millimetres) centred on the host organ's
bounding box in that slice, resized to the network's square input. The box has the same physical size
on every slice and in every scan, so one model pixel always covers the same millimetres (about 0.84 x
1.69 mm for the kidney preset's 108 x 216 mm box at 128 px, against 2.8 mm for the whole 360 mm
slice): a 17 mm lesion is about 20 x 10 model pixels instead of 6 x 6.

The box needs the host mask of the slice, in training (the slice set has it) and at inference (a
host-organ label map, ``coin segment --host-mask``); slices without host pixels get no box.
Outside the slice the box is filled like the model's padding (-1.0 = air for images, 0 for masks).
Maps made in the box go back with :func:`paste_slices`: resized to the box's pixel size and placed
into an empty slice, zero outside the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coin_core.errors import CoinError

CARD_KEY = "input_crop"
KIND = "host_box"
#: sides of the box must lie in this range (mm): smaller than a vertebra or larger than a body is a typo
SIDE_RANGE_MM = (16.0, 1000.0)


@dataclass(frozen=True)
class Box:
    """A box in a slice's pixel grid: top row, left column, height, width (may reach outside)."""

    r0: int
    c0: int
    h: int
    w: int

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.r0, self.c0, self.h, self.w)


@dataclass(frozen=True)
class HostCrop:
    """A fixed-size box (``size_mm``: rows, columns) centred on the host organ of each slice."""

    size_mm: tuple[float, float]

    def __post_init__(self) -> None:
        check_size_mm(self.size_mm, "input_crop.size_mm")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "size_mm": [float(s) for s in self.size_mm]}

    @classmethod
    def from_dict(cls, d: Any, source: str) -> HostCrop:
        """Parse a card's ``input_crop``; problems raise :class:`CoinError` naming ``source``."""
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise CoinError(
                f"{source}: {CARD_KEY} must be {{'kind': '{KIND}', 'size_mm': [rows, cols]}}, got {d!r}.",
                "rewrite model.json with this version of coin, or remove the entry.",
            )
        size = d.get("size_mm")
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise CoinError(f"{source}: {CARD_KEY}.size_mm must be [rows_mm, cols_mm], got {size!r}.")
        return cls((float(size[0]), float(size[1])))

    def box(self, host: np.ndarray, pixel_mm: tuple[float, float]) -> Box | None:
        """The box around the host pixels of one slice ``host`` (H, W); None when it has none."""
        rows = np.flatnonzero(host.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(host.any(axis=0))
        h = max(1, round(self.size_mm[0] / float(pixel_mm[0])))
        w = max(1, round(self.size_mm[1] / float(pixel_mm[1])))
        cr, cc = (rows[0] + rows[-1] + 1) / 2.0, (cols[0] + cols[-1] + 1) / 2.0
        return Box(int(round(cr - h / 2.0)), int(round(cc - w / 2.0)), int(h), int(w))

    def boxes(self, host: np.ndarray, pixel_mm: tuple[float, float]) -> list[Box | None]:
        """:meth:`box` of every slice of a stack (N, H, W)."""
        return [self.box(np.asarray(m), pixel_mm) for m in host]


def check_size_mm(size: Any, key: str) -> None:
    lo, hi = SIDE_RANGE_MM
    if len(size) != 2 or not all(lo <= float(s) <= hi for s in size):
        raise CoinError(
            f"{key} is {list(size)}; each side of the host-organ box must lie in {lo:g}-{hi:g} mm.",
            "give [rows_mm, cols_mm], e.g. [108, 216] for both kidneys.",
        )


def _region(img: Any, box: Box, fill: float) -> Any:
    """The box's pixels of one slice (H, W) tensor, ``fill`` where the box leaves the slice."""
    import torch

    out = torch.full((box.h, box.w), float(fill), dtype=torch.float32, device=img.device)
    H, W = img.shape[-2:]
    r0, r1 = max(box.r0, 0), min(box.r0 + box.h, H)
    c0, c1 = max(box.c0, 0), min(box.c0 + box.w, W)
    if r1 > r0 and c1 > c0:
        out[r0 - box.r0 : r1 - box.r0, c0 - box.c0 : c1 - box.c0] = img[r0:r1, c0:c1].float()
    return out


def crop_slices(x: Any, boxes: list[Box], size: int, kind: str = "image", fill: float | None = None) -> Any:
    """Slices (N, H, W) -> their boxes resized to (N, size, size).

    Images bilinear (antialiased where the box shrinks), masks nearest; numpy in, numpy out (images
    float32, masks keep their dtype); tensors stay on their device.
    """
    import torch
    import torch.nn.functional as F

    if kind not in ("image", "mask"):
        raise CoinError(f"kind must be 'image' or 'mask', got {kind!r}.")
    is_np = not isinstance(x, torch.Tensor)
    t = torch.from_numpy(np.ascontiguousarray(x)) if is_np else x
    if t.ndim != 3 or len(boxes) != t.shape[0]:
        raise CoinError(f"crop_slices: need (N, H, W) and N boxes, got {tuple(t.shape)} and {len(boxes)}.")
    fill = (-1.0 if kind == "image" else 0.0) if fill is None else float(fill)
    out = torch.empty((t.shape[0], size, size), dtype=torch.float32, device=t.device)
    for i, box in enumerate(boxes):
        reg = _region(t[i], box, fill)[None, None]
        if kind == "mask":
            out[i] = F.interpolate(reg, size=(size, size), mode="nearest-exact")[0, 0]
        else:
            shrink = box.h > size or box.w > size
            out[i] = F.interpolate(
                reg, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
            )[0, 0]
    if kind == "mask":
        return out.cpu().numpy().astype(np.asarray(x).dtype) if is_np else out.to(x.dtype)
    return out.cpu().numpy() if is_np else out


def paste_slices(maps: Any, boxes: list[Box | None], shape: tuple[int, int]) -> Any:
    """Box maps (N, size, size) -> slices (N, H, W): each resized to its box and placed, 0 elsewhere.

    A None box leaves its slice all zero. numpy in, numpy out (float32); tensors stay on their device.
    """
    import torch
    import torch.nn.functional as F

    is_np = not isinstance(maps, torch.Tensor)
    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32)) if is_np else maps.float()
    H, W = int(shape[0]), int(shape[1])
    out = torch.zeros((t.shape[0], H, W), dtype=torch.float32, device=t.device)
    for i, box in enumerate(boxes):
        if box is None:
            continue
        shrink = box.h < t.shape[-2] or box.w < t.shape[-1]
        reg = F.interpolate(
            t[i][None, None], size=(box.h, box.w), mode="bilinear", align_corners=False, antialias=shrink
        )[0, 0]
        r0, r1 = max(box.r0, 0), min(box.r0 + box.h, H)
        c0, c1 = max(box.c0, 0), min(box.c0 + box.w, W)
        if r1 > r0 and c1 > c0:
            out[i, r0:r1, c0:c1] = reg[r0 - box.r0 : r1 - box.r0, c0 - box.c0 : c1 - box.c0]
    return out.cpu().numpy() if is_np else out


def frame_pixel_mm(meta: dict[str, Any], case: int) -> tuple[float, float]:
    """Pixel size (rows, columns, mm) of a slice set's stored slices of one case (benchmark.json)."""
    cases = meta.get("cases") or []
    px = cases[case].get("frame_pixel_mm") if 0 <= case < len(cases) else None
    if not px:
        raise CoinError(
            "The slice set does not record the pixel size of its slices (benchmark.json cases[]."
            "frame_pixel_mm), which the host-organ box needs.",
            "rebuild the slice set with this version (coin data synth-lesions / coin data prepare).",
        )
    return float(px[0]), float(px[1])


def crop_arrays(arrays: Any, crop: HostCrop, meta: dict[str, Any], size: int) -> tuple[Any, list[Box | None]]:
    """A split's arrays (stored size) -> the host boxes at ``size`` x ``size``, and the boxes used.

    Every sample must have host pixels (the slice sets keep host-organ slices only).
    """
    from coin_core.data.benchmark import SliceArrays

    boxes: list[Box | None] = []
    for i in range(len(arrays)):
        box = crop.box(arrays.host[i], frame_pixel_mm(meta, int(arrays.case[i])))
        if box is None:
            raise CoinError(
                f"Sample {i} of the slice set has no host-organ pixels, so it has no host box.",
                "rebuild the slice set; it should keep host-organ slices only.",
            )
        boxes.append(box)
    if not boxes:
        return arrays.resized(size), boxes
    out = {
        "image": crop_slices(arrays.image.astype(np.float32), boxes, size, "image").astype(np.float16),
        "lesion": crop_slices(arrays.lesion, boxes, size, "mask"),
        "host": crop_slices(arrays.host, boxes, size, "mask"),
    }
    keep = {n: getattr(arrays, n) for n in ("label", "has_mask", "case", "slice_index", "draw")}
    return SliceArrays(**out, **keep), boxes
