"""How a classifier behaves on each split of a prepared slice set (AUC and calibration).

Usage: .venv/bin/python benchmarks/classifier_splits.py FOLDER BENCH
FOLDER is a model folder (its classifier is used) or a classifier folder (classifier.json +
classifier.safetensors, as written by ``coin train-classifier``). Prints, per split: samples, ROC
AUC, mean P(abnormal) of lesion and normal samples, and how many normal samples the classifier
calls abnormal (p > 0.5). Runs on one CPU thread.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from coin_core.data.benchmark import load_split
from coin_core.train.metrics import roc_auc


def _probability_fn(folder: str):
    """(input size, images [B,1,S,S] -> P(abnormal) [B]) for a model or classifier folder."""
    from coin_core.train.classifier import CARD, resolve_classifier_dir

    if (resolve_classifier_dir(folder) / CARD).is_file():
        from coin_core.train.classifier import load_classifier

        clf, card = load_classifier(folder, device="cpu")
        epoch = card.get("metrics", {}).get("epoch")
        print(f"classifier folder {folder} (kept epoch {epoch})")
        return int(card["input_size"]), lambda x: torch.sigmoid(clf(x).float().flatten())
    from coin_core.modelfile import load_model

    model = load_model(folder, device="cpu")
    return model.card.input_size, model.probability


def main(folder: str, bench: str) -> None:
    torch.set_num_threads(1)
    size, prob = _probability_fn(str(Path(folder)))
    print("split  samples  AUC    mean p lesion  mean p normal  normal with p>0.5")
    for split in ("train", "val", "test"):
        a = load_split(bench, split, size=size)
        with torch.inference_mode():
            p = torch.cat(
                [
                    prob(torch.from_numpy(a.image[i : i + 32].astype(np.float32))[:, None])
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
