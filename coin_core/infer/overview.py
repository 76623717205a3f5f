"""A PNG overview of the most abnormal slices: image, counterfactual, difference, mask outline.

One row per slice (the slices with the highest P(abnormal), shown from inferior to superior),
four panels per row, in radiological display (patient right on the left of the picture):

1. the CT in the model's intensity window;
2. the counterfactual in the same window;
3. the difference map |x - x_cf| on a black-red-yellow-white scale from 0 to 0.5
   (the paper's threshold, 0.25, sits in the middle);
4. the CT with the lesion mask outlined in green.

Panels keep the physical aspect ratio of the pixels and are at most ``PANEL`` pixels on a side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

PANEL = 256
DIFF_MAX = 0.5
LABEL_H = 14


@dataclass
class PreviewSlice:
    """One axial slice (canonical orientation) for the overview."""

    index: int
    probability_before: float
    probability_after: float
    image: np.ndarray  # HU
    counterfactual: np.ndarray  # HU
    difference: np.ndarray  # [0, 1]
    mask: np.ndarray  # uint8


def pick_slices(probability: np.ndarray, mask: np.ndarray, n: int = 4) -> list[int]:
    """Indices of the ``n`` most abnormal slices (highest probability, then largest mask), ascending.

    ``segment_volume`` lowers the probability of slices that got no counterfactual (screened or
    filtered out) so that slices with a counterfactual come first.
    """
    area = mask.reshape(mask.shape[0], -1).sum(axis=1)
    order = np.lexsort((-area, -np.asarray(probability)))
    return sorted(int(k) for k in order[:n])


def _grey(hu: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = (np.clip(hu.astype(np.float32), lo, hi) - lo) / max(hi - lo, 1e-6)
    g = (x * 255).astype(np.uint8)
    return np.stack([g, g, g], axis=-1)


def _heat(diff: np.ndarray) -> np.ndarray:
    t = np.clip(diff / DIFF_MAX, 0.0, 1.0) * 3.0
    rgb = np.stack([np.clip(t, 0, 1), np.clip(t - 1, 0, 1), np.clip(t - 2, 0, 1)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def _outline(hu: np.ndarray, mask: np.ndarray, lo: float, hi: float) -> np.ndarray:
    from scipy import ndimage

    rgb = _grey(hu, lo, hi)
    m = mask.astype(bool)
    edge = m & ~ndimage.binary_erosion(m, structure=np.ones((3, 3), bool), border_value=0)
    rgb[ndimage.binary_dilation(edge)] = (0, 255, 0)
    return rgb


def _panel_size(shape: tuple[int, int], pixel_mm: tuple[float, float]) -> tuple[int, int]:
    h_mm, w_mm = shape[0] * pixel_mm[0], shape[1] * pixel_mm[1]
    scale = PANEL / max(h_mm, w_mm)
    return max(1, round(w_mm * scale)), max(1, round(h_mm * scale))


def render_overview(
    slices: list[PreviewSlice],
    window: tuple[float, float],
    pixel_mm: tuple[float, float],
    path: str | os.PathLike[str],
) -> None:
    """Write the overview PNG.

    Args:
        slices: rows to show (may be empty: a one-line "no slices" picture is written).
        window: (lo, hi) display window in HU.
        pixel_mm: (row, column) pixel size in mm, for the aspect ratio.
        path: the PNG file to write (the caller makes it atomic).
    """
    from PIL import Image, ImageDraw

    lo, hi = window
    if not slices:
        img = Image.new("RGB", (4 * PANEL, 40), "black")
        ImageDraw.Draw(img).text((8, 12), "no slices to show", fill="white")
        img.save(path, format="PNG")
        return
    pw, ph = _panel_size(slices[0].image.shape, pixel_mm)
    titles = ("image", "counterfactual", f"difference (0..{DIFF_MAX:g})", "lesion mask")
    canvas = Image.new("RGB", (4 * pw, len(slices) * (ph + LABEL_H) + LABEL_H), "black")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(titles):
        draw.text((c * pw + 4, 1), title, fill="white")
    for r, s in enumerate(slices):
        panels = (
            _grey(s.image, lo, hi),
            _grey(s.counterfactual, lo, hi),
            _heat(s.difference),
            _outline(s.image, s.mask, lo, hi),
        )
        y = LABEL_H + r * (ph + LABEL_H)
        label = f"slice {s.index}: P(abnormal) {s.probability_before:.2f} -> {s.probability_after:.2f}"
        draw.text((4, y + 1), label, fill="yellow")
        for c, rgb in enumerate(panels):
            tile = Image.fromarray(rgb, "RGB").resize((pw, ph), Image.Resampling.BILINEAR)
            canvas.paste(tile, (c * pw, y + LABEL_H))
    canvas.save(path, format="PNG")
