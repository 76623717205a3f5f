"""Progress plumbing of a training run: callbacks, JSON-lines event files, step timing.

:class:`EventSink` fans one :class:`coin_core.progress.ProgressEvent` out to the caller's callback
and, when asked, to a JSON-lines file (one ``ProgressEvent.to_json()`` object per line, appended,
flushed per line so a GUI can follow it with ``tail -f``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import IO, Any

from coin_core.progress import ProgressCallback, ProgressEvent


class EventSink:
    """Deliver events to a callback and/or a JSON-lines file; silent when ``enabled`` is False.

    Args:
        progress: the caller's callback (may be None).
        jsonl: path of the events file (appended; parent folders created), or None.
        enabled: False on DDP ranks other than 0.
    """

    def __init__(
        self, progress: ProgressCallback | None, jsonl: str | os.PathLike[str] | None, enabled: bool = True
    ) -> None:
        self.progress = progress if enabled else None
        self._fh: IO[str] | None = None
        if enabled and jsonl is not None:
            path = Path(jsonl)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def emit(self, event: ProgressEvent, to_file: bool = True) -> None:
        """Send ``event`` to the callback, and to the file when ``to_file``."""
        event.metrics = finite_or_none(event.metrics)
        if self._fh is not None and to_file:
            self._fh.write(event.to_json() + "\n")
            self._fh.flush()
        if self.progress is not None:
            self.progress(event)

    def close(self) -> None:
        """Close the events file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def finite_or_none(metrics: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``metrics`` with NaN / Inf floats (also in nested dicts) replaced by None (strict JSON)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out[k] = finite_or_none(v)
        elif isinstance(v, float) and not math.isfinite(v):
            out[k] = None
        else:
            out[k] = v
    return out
