"""The paper's TotalSegmentator figures, and whether a BENCH is the kind of benchmark they were measured on.

Shvetsov et al. 2024, Table 1 (docs/method.md §10) reports one synthetic row: bright Gaussian-blob
lesions pasted into a host organ (kidneys) of TotalSegmentator CTs. ``coin evaluate`` prints those
figures next to its own only when the scored BENCH was made the same way, decided from the BENCH's own
``benchmark.json``:

* a ``"lesions"`` block (written by ``coin data synth-lesions``) with a positive ``alpha`` (bright
  blobs) and a host that is an organ label: the paper's columns are shown (as context: our data set is a
  different, much smaller one);
* real lesions (``coin data prepare``, ``"kind": "real-labels"``, no ``"lesions"`` block), hypodense
  blobs (``alpha < 0``), a host computed from the CT (``--host body`` / ``lung``), or no readable
  ``benchmark.json``: they are left out, and the reason is recorded in ``results.json``.
"""

from __future__ import annotations

import os
from typing import Any

# docs/method.md §10, Table 1, TotalSegmentator (synthetic) row: IoU and, where reported, CV and FID.
PAPER_TSM = {
    "scorecam": {"iou": 0.030},
    "layercam": {"iou": 0.026},
    "rise": {"iou": 0.397},
    "singla": {"iou": 0.445, "cv": 0.998, "fid": 0.047},
    "coin": {"iou": 0.646, "cv": 0.997, "fid": 0.003},
}

PAPER_SOURCE = "Shvetsov et al. 2024, Table 1, TotalSegmentator (synthetic)"


def paper_columns(bench_dir: str | os.PathLike[str]) -> tuple[bool, str]:
    """Whether the paper's Table 1 columns belong in the table of ``bench_dir``, and why (one sentence)."""
    from coin_core.data.benchmark import read_benchmark_json
    from coin_core.errors import CoinError

    try:
        meta = read_benchmark_json(bench_dir)
    except CoinError as err:
        return False, f"whether the BENCH matches the paper's benchmark is unknown: {err.message.rstrip('.')}"
    return decide(meta)


def decide(meta: dict[str, Any]) -> tuple[bool, str]:
    """:func:`paper_columns` for the content of a ``benchmark.json``."""
    lesions = meta.get("lesions")
    if not isinstance(lesions, dict):
        kind = meta.get("kind")
        made = f"; kind '{kind}'" if kind else ""
        made += ", from coin data prepare" if kind == "real-labels" else ""
        return False, (
            f"the BENCH's lesions are not synthetic blobs (benchmark.json has no 'lesions' block{made}); "
            "the paper's figures are for synthetic Gaussian-blob lesions"
        )
    alpha = float(lesions.get("alpha", 0.0))
    if alpha <= 0:
        return False, (
            f"the BENCH's synthetic lesions are hypodense (alpha {alpha:g}); the paper's are bright blobs"
        )
    host = str(meta.get("host") or lesions.get("host") or "?")
    if meta.get("host_computed"):
        return False, (
            f"the BENCH's host ('{host}') is computed from the CT, not an organ label; the paper pasted its "
            "blobs into an organ (kidneys)"
        )
    return True, (
        f"the BENCH has synthetic bright Gaussian-blob lesions in the host organ '{host}', the paper's "
        "protocol; its data set differs (far fewer patients), so the paper's figures are context, "
        "not a target"
    )
