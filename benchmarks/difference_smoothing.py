"""Would smoothing COIN's difference map before thresholding help? (an experiment, not a feature)

For a model and a prepared slice set: the difference maps |x - x_cf| / 2 of the abnormal val and test
samples, optionally Gaussian-smoothed (sigma in pixels at the model's input size), threshold tuned on
val by micro IoU, with the paper's post-processing and with none; prints val and test micro IoU, and
first how the raw map splits between lesion and the rest on each abnormal test sample.

Run: ``.venv/bin/python benchmarks/difference_smoothing.py MODEL BENCH`` (about 10 s for the demo model).
"""

from __future__ import annotations

import sys

import numpy as np
import scipy.ndimage as ndi
import torch

from coin_core.data.benchmark import load_split
from coin_core.evaluation.thresholds import binarize, default_grid
from coin_core.modelfile import load_model


def _maps(model, bench: str, split: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    a = load_split(bench, split, size=model.card.input_size)
    idx = np.flatnonzero(a.label == 1)
    with torch.inference_mode():
        x = torch.from_numpy(a.image[idx].astype(np.float32))[:, None]
        d = ((model.counterfactual(x) - x).abs()[:, 0] / 2).numpy()
    return d, a.lesion[idx].astype(bool)


def _iou(d: np.ndarray, gt: np.ndarray, t: float, pp: str) -> float:
    b = binarize(d, t, pp).astype(bool)
    return float((b & gt).sum() / max((b | gt).sum(), 1))


def main(model_dir: str, bench: str) -> None:
    model = load_model(model_dir, device="cpu")
    dv, gv = _maps(model, bench, "val")
    dt, gt = _maps(model, bench, "test")
    print("test lesion samples: mean |d| inside the lesion / outside it, max |d| outside")
    for i in range(len(dt)):
        inside, outside = dt[i][gt[i]], dt[i][~gt[i]]
        print(f"  sample {i:2d}: {inside.mean():.3f} / {outside.mean():.4f}, max outside {outside.max():.3f}")
    print("sigma  post-processing  val-tuned threshold  val micro IoU  test micro IoU")
    for sigma in (0.0, 0.7, 1.0, 1.5, 2.0):
        sv = np.stack([ndi.gaussian_filter(m, sigma) for m in dv]) if sigma else dv
        st = np.stack([ndi.gaussian_filter(m, sigma) for m in dt]) if sigma else dt
        grid = default_grid() if sigma == 0 else np.round(np.arange(0.005, 0.3, 0.005), 4)
        for pp in ("paper", "none"):
            scores = [_iou(sv, gv, float(t), pp) for t in grid]
            best = float(grid[int(np.argmax(scores))])
            print(
                f"{sigma:5.1f}  {pp:15s}  {best:19.3f}  {max(scores):13.3f}  {_iou(st, gt, best, pp):14.3f}"
            )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: difference_smoothing.py MODEL BENCH")
    main(sys.argv[1], sys.argv[2])
