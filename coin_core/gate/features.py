"""The classifier's pooled stage features of slice arrays, in batches (for fitting a gate)."""

from __future__ import annotations

from typing import Any

import numpy as np


def stage_features(
    classifier: Any, images: np.ndarray, layers: tuple[str, ...], batch_size: int = 32
) -> list[np.ndarray]:
    """Per stage of ``layers``, the pooled features (N, C_l) float64 of ``images`` (N, S, S) in [-1, 1].

    The classifier runs in eval mode (batch norm with its running statistics), on its own device.
    """
    import torch

    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    chunks: list[list[np.ndarray]] = [[] for _ in layers]
    try:
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = torch.from_numpy(np.asarray(images[i : i + batch_size], dtype=np.float32))[:, None]
                _, pooled = classifier.pooled_layers(x.to(device), tuple(layers))
                for chunk, f in zip(chunks, pooled, strict=True):
                    chunk.append(f.double().cpu().numpy())
    finally:
        classifier.train(was_training)
    return [np.concatenate(c) for c in chunks]
