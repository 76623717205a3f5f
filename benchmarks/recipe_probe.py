"""Val-only probe of a GAN checkpoint, for choosing a recipe during training (never the test split).

Loads a checkpoint of ``coin train`` (the EMA weights when the run keeps them), makes the
counterfactuals of the benchmark's val samples at the network's input size and prints: how many
confident positives (p > 0.8) the counterfactual moves by more than 0.8, the median |Δ| inside the
lesions, the 99th percentile of |Δ| over healthy body pixels (outside the lesion dilated by 3 px,
inside image > -0.95 in the windowed [-1, 1] scale) on abnormal and normal samples, and the micro
IoU at a few thresholds, on abnormal samples only and with normal samples counted. |Δ| is in [0, 1]
units (|x - x_cf| / 2) as everywhere in coin evaluate. The lesion masks are resized to the input
size, so the IoU here is a quick proxy for the 256² figure of ``coin evaluate``. For a host-organ-box
recipe every figure is in the box's pixels (not comparable with whole-slice runs; use
benchmarks/val_compare.py on finished models for that).

    .venv/bin/python benchmarks/recipe_probe.py RUN_FOLDER [--checkpoint step-00001250] [--data BENCH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from coin_core.config import load_config
from coin_core.data.benchmark import load_split
from coin_core.models import build_networks
from coin_core.train.checkpoint import latest_checkpoint, load_checkpoint
from coin_core.train.phases import CounterfactualNet
from coin_core.train.pipeline import load_bench

THRESHOLDS = (0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25)


def _load(folder: Path):  # noqa: ANN202
    tensors, meta = load_checkpoint(folder)
    cfg = load_config(meta["config"])
    nets = build_networks(cfg.model, parts=("classifier", "encoder", "generator"))
    net = CounterfactualNet(nets.encoder, nets.generator)

    def part(prefix: str) -> dict:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    if any(k.startswith("ema/") for k in tensors):
        net.load_state_dict(part("ema/"))
    else:
        net.encoder.load_state_dict(part("encoder/"))
        net.generator.load_state_dict(part("generator/"))
    nets.classifier.load_state_dict(part("classifier/"))
    return cfg, meta, net.eval(), nets.classifier.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder name (default: the newest)")
    ap.add_argument("--data", default=str(Path.home() / ".cache/coin/bench-kidney-30mm"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    folder = run / "checkpoints" / args.checkpoint if args.checkpoint else latest_checkpoint(run)
    cfg, meta, net, f = _load(folder)
    if cfg.crop is None:
        s = load_split(args.data, "val", cfg.model.input_size)
    else:  # a host-organ-box recipe: the val boxes, so the figures are in the box's pixels
        s = load_bench(args.data, cfg.model.input_size, cfg.crop)[2]
    x = torch.from_numpy(np.asarray(s.image, dtype=np.float32))[:, None]
    les = np.asarray(s.lesion) > 0
    with torch.no_grad():
        p = torch.sigmoid(f(x).flatten()).numpy()
        xcf = net(x, torch.zeros(len(x), dtype=torch.long))
        pcf = torch.sigmoid(f(xcf).flatten()).numpy()
    d = (x - xcf).abs().numpy()[:, 0] / 2
    ab = les.reshape(len(les), -1).any(1)
    healthy = np.stack([~ndimage.binary_dilation(m, iterations=3) for m in les]) & (
        np.asarray(s.image) > -0.95
    )
    conf = p > 0.8
    print(f"{run.name} {folder.name} (step {meta['step']}), val: {len(x)} samples, {ab.sum()} abnormal")
    print(f"  confident positives moved by > 0.8: {int((conf & (p - pcf > 0.8)).sum())} / {int(conf.sum())}")
    print(f"  median |d| inside lesions {np.median(d[les]):.3f}")
    for name, sel in (("abnormal", ab), ("normal", ~ab)):
        print(f"  p99 |d| over healthy body pixels, {name}: {np.percentile(d[sel][healthy[sel]], 99):.4f}")
    for th in THRESHOLDS:
        m = d > th
        inter, union, fp_normal = (m & les)[ab].sum(), (m | les)[ab].sum(), m[~ab].sum()
        print(f"  threshold {th:.2f}: micro IoU {inter / union:.3f} (abnormal only), "
              f"{inter / (union + fp_normal):.3f} (normal samples counted)")  # fmt: skip


if __name__ == "__main__":
    main()
