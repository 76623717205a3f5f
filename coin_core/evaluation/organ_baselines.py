"""Two trivial baselines that know nothing about lesions; a method counts only where it beats both.

* ``host_organ``: the host-organ mask (the BENCH's ``host`` array) on every sample. On the
  paper's protocol (abnormal samples only) that is "the whole kidney on every abnormal sample";
  in the column with normal samples it marks the organ on the normal ones too.
* ``gated_host_organ``: the host-organ mask on the samples the classifier f calls abnormal
  (P(abnormal) >= :data:`GATE_P`), nothing on the others: what a detector plus an organ
  segmentation gives without any localisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coin_core.progress import StopCallback, check_stop

HOST_ORGAN = "host_organ"
GATED_HOST_ORGAN = "gated_host_organ"
BASELINE_LABELS = {
    HOST_ORGAN: "Host organ (baseline)",
    GATED_HOST_ORGAN: "Host organ where f says abnormal (baseline)",
}
#: the classifier's decision threshold for the gated baseline
GATE_P = 0.5
#: fields of a method row that have no meaning for a baseline
BASELINE_FIELDS: dict[str, Any] = {
    "val_micro_iou": None,
    "n_val_slices": 0,
    "sweep": None,
    "paper_threshold": None,
    "paper_postprocess": None,
    "paper_micro_iou": None,
    "paper_micro_dice": None,
    "paper_mean_case_dice": None,
    "cv": None,
    "cv_ci": None,
    "cv_n": 0,
    "cf_normal_rate": None,
    "fd_classifier": None,
    "fd_inception": None,
    "beats_baselines": None,
}


def host_masks(host: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """Baseline masks ``(N, S, S)`` uint8: ``host``; with ``p``, only where ``p >= GATE_P``."""
    masks = (np.asarray(host) != 0).astype(np.uint8)
    if p is not None:
        masks = masks * (np.asarray(p).reshape(-1, 1, 1) >= GATE_P).astype(np.uint8)
    return masks


def probabilities(
    model: Any, arrays: Any, rows: np.ndarray, batch_size: int, stop: StopCallback | None = None
) -> np.ndarray:
    """P(abnormal) ``(len(rows),)`` of ``model``'s classifier on the samples ``rows`` of ``arrays``."""
    import torch

    out = []
    device = next(model.classifier.parameters()).device
    for i in range(0, rows.size, batch_size):
        b = rows[i : i + batch_size]
        x = torch.from_numpy(np.asarray(arrays.image[b], np.float32)[:, None]).to(device)
        with torch.no_grad():
            out.append(model.probability(x).float().cpu().numpy().reshape(-1))
        check_stop(stop)
    return np.concatenate(out) if out else np.zeros(0, np.float32)
