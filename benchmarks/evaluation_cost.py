"""Seconds per slice of every attribution baseline with a preset's classifier (random weights).

Usage: .venv/bin/python benchmarks/evaluation_cost.py [--preset small] [--rise-masks 6000] [--n 4]

Prints the classifier's forward throughput and the cost per slice of RISE, Score-CAM, LayerCAM and
Grad-CAM, so the run time of ``coin evaluate`` on a BENCH split can be estimated: roughly
(abnormal val slices + abnormal test slices) x (sum of the per-slice costs).
"""

from __future__ import annotations

import argparse
import time

import torch

from coin_core.evaluation.baselines import gradcam, layercam, rise, scorecam
from coin_core.models import build_networks, network_preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--rise-masks", type=int, default=6000)
    ap.add_argument("--n", type=int, default=4, help="slices per measurement")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = network_preset(args.preset)
    f = build_networks(cfg, seed=0).classifier.eval().requires_grad_(False)
    s = cfg.input_size
    x = torch.rand(args.n, 1, s, s) * 2 - 1
    with torch.no_grad():
        f(torch.rand(64, 1, s, s))
        t = time.perf_counter()
        f(torch.rand(256, 1, s, s))
        fwd = 256 / (time.perf_counter() - t)
    print(f"preset {args.preset}: input {s}, classifier base width {cfg.classifier.base_width}, "
          f"{args.threads} threads, forward {fwd:.0f} slices/s")  # fmt: skip
    runs = {
        f"RISE ({args.rise_masks} masks)": lambda: rise(f, x, args.rise_masks),
        "Score-CAM": lambda: scorecam(f, x),
        "LayerCAM": lambda: layercam(f, x),
        "Grad-CAM": lambda: gradcam(f, x),
    }
    for name, fn in runs.items():
        t = time.perf_counter()
        fn()
        print(f"{name:<22} {(time.perf_counter() - t) / args.n:8.3f} s/slice")


if __name__ == "__main__":
    main()
