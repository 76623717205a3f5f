"""Where a fitted gate lives in a model folder.

* ``MODEL/gate.safetensors``: per stage ``<layer>.mean`` (C,) and ``<layer>.precision`` (C, C),
  float64 (no pickle);
* ``MODEL/model.json`` key ``anatomy_gate``: the stage names, scales, threshold, how it was fitted
  (host organ, slice set, quantile, margin), the validation check, and the SHA-256 of the file above,
  so a card and a gate file from different fits are never mixed.

:func:`write_gate` replaces both files together (all or nothing) and keeps every other field of the
card as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.fileutil import OutputSet
from coin_core.gate.stats import AnatomyGate

GATE_FILE = "gate.safetensors"
CARD_KEY = "anatomy_gate"
_REFIT = "fit the gate again: coin model fit-gate --model MODEL --data BENCH --overwrite"


def check_section(section: Any, source: str) -> dict[str, Any]:
    """Validate the card's ``anatomy_gate`` section (the parts inference needs); returns a copy."""
    if not isinstance(section, dict):
        raise CoinError(f"{source}: {CARD_KEY} must be a JSON object, got {type(section).__name__}.", _REFIT)
    layers, scales, threshold = section.get("layers"), section.get("scales"), section.get("threshold")
    ok = (
        isinstance(layers, list)
        and layers
        and all(isinstance(n, str) for n in layers)
        and isinstance(scales, list)
        and len(scales) == len(layers)
        and all(_positive(s) for s in scales)
        and _positive(threshold)
        and isinstance(section.get("sha256"), str)
    )
    if not ok:
        raise CoinError(
            f"{source}: {CARD_KEY} needs 'layers', positive 'scales' (one per layer), a positive "
            f"'threshold' and 'sha256'; got {json.dumps(section)[:200]}.",
            _REFIT,
        )
    return dict(section)


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def read_gate(folder: str | os.PathLike[str], section: dict[str, Any]) -> AnatomyGate:
    """Load the gate of a model folder whose card holds ``section`` (already checked)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(folder) / GATE_FILE
    if not path.is_file():
        raise CoinError(f"The model card names an anatomy gate, but {path} is missing.", _REFIT)
    if _sha256(path) != section["sha256"]:
        raise CoinError(f"{path} does not belong to the anatomy gate described in model.json.", _REFIT)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CoinError(f"Cannot read {path}: {err}", _REFIT) from None
    layers = tuple(section["layers"])
    try:
        means = tuple(np.asarray(tensors[f"{n}.mean"], dtype=np.float64) for n in layers)
        precisions = tuple(np.asarray(tensors[f"{n}.precision"], dtype=np.float64) for n in layers)
    except KeyError as err:
        raise CoinError(f"{path} lacks the tensor {err}.", _REFIT) from None
    return AnatomyGate(
        layers=layers,
        means=means,
        precisions=precisions,
        scales=tuple(float(s) for s in section["scales"]),
        threshold=float(section["threshold"]),
        shrinkage=tuple(float(s) for s in section.get("shrinkage", ())),
    )


def write_gate(folder: str | os.PathLike[str], gate: AnatomyGate, details: dict[str, Any]) -> dict[str, Any]:
    """Write ``gate.safetensors`` and the card's ``anatomy_gate`` section together.

    Args:
        folder: an existing model folder (its model.json is read and rewritten with the new section).
        gate: the fitted gate.
        details: what to record besides the statistic (host organ, data, quantile, margin, check).

    Returns:
        The section written into the card.
    """
    from safetensors.numpy import save_file

    folder = Path(folder)
    card_path, gate_path = folder / "model.json", folder / GATE_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CoinError(f"Cannot read {card_path}: {err}", "pass a model folder written by coin.") from None
    tensors = {}
    for name, mean, precision in zip(gate.layers, gate.means, gate.precisions, strict=True):
        tensors[f"{name}.mean"] = np.ascontiguousarray(mean, dtype=np.float64)
        tensors[f"{name}.precision"] = np.ascontiguousarray(precision, dtype=np.float64)
    with OutputSet([gate_path, card_path], overwrite=True) as out:
        save_file(tensors, str(out.tmp(gate_path)), metadata={"coin_part": CARD_KEY})
        section = {
            "layers": list(gate.layers),
            "scales": [float(s) for s in gate.scales],
            "threshold": float(gate.threshold),
            "shrinkage": [float(s) for s in gate.shrinkage],
            **details,
            "file": GATE_FILE,
            "sha256": _sha256(out.tmp(gate_path)),
        }
        card[CARD_KEY] = section
        out.tmp(card_path).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return section


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
