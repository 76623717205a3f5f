"""How a model's classifier behaves on each split of a prepared slice set (AUC and calibration).

Usage: .venv/bin/python benchmarks/classifier_splits.py MODEL BENCH
Prints, per split: samples, ROC AUC, mean P(abnormal) of lesion and normal samples, and how many
normal samples the classifier calls abnormal (p > 0.5).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from coin_core.data.benchmark import load_split
from coin_core.modelfile import load_model
from coin_core.train.metrics import roc_auc


def main(model_dir: str, bench: str) -> None:
    model = load_model(model_dir, device="cpu")
    print("split  samples  AUC    mean p lesion  mean p normal  normal with p>0.5")
    for split in ("train", "val", "test"):
        a = load_split(bench, split, size=model.card.input_size)
        with torch.inference_mode():
            p = torch.cat(
                [
                    model.probability(torch.from_numpy(a.image[i : i + 32].astype(np.float32))[:, None])
                    for i in range(0, len(a.label), 32)
                ]
            ).numpy()
        pos, neg = a.label == 1, a.label == 0
        print(
            f"{split:6s} {len(p):7d}  {roc_auc(a.label, p):.3f}  {p[pos].mean():13.2f}  {p[neg].mean():13.2f}"
            f"  {int((p[neg] > 0.5).sum())} / {int(neg.sum())}"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
