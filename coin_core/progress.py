"""Progress reporting and cancellation shared by every long-running library function.

Library functions take two optional keyword arguments:

* ``progress``: a callable receiving :class:`ProgressEvent` objects;
* ``should_stop``: a callable returning True when the caller wants the job to stop. The job
  then raises :class:`coin_core.errors.CoinCancelled` at the next safe point (after the current
  batch), leaving no partial outputs behind.

Library code never prints; the CLI turns events into a tqdm bar or JSON lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from coin_core.errors import CoinCancelled


@dataclass
class ProgressEvent:
    """One progress report.

    Attributes:
        stage: short machine name of the phase ("read", "classify", "counterfactual", "epoch", ...).
        done: units finished in this stage.
        total: units in this stage, or None when unknown.
        message: one human-readable line.
        metrics: numbers worth plotting (losses, validation metrics, eta_s, ...).
    """

    stage: str
    done: int = 0
    total: int | None = None
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON line (no newline), with a wall-clock time stamp."""
        d = asdict(self)
        d["time"] = round(time.time(), 3)
        return json.dumps(d, default=float)


ProgressCallback = Callable[[ProgressEvent], None]
StopCallback = Callable[[], bool]


def report(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``progress`` if a callback was given."""
    if progress is not None:
        progress(event)


def check_stop(should_stop: StopCallback | None) -> None:
    """Raise :class:`CoinCancelled` when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise CoinCancelled()


class EtaEstimator:
    """Seconds-left estimate from the mean rate since start (robust enough for progress bars)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.start = time.monotonic()

    def eta_s(self, done: int) -> float | None:
        if not self.total or done <= 0:
            return None
        rate = (time.monotonic() - self.start) / done
        return max(0.0, rate * (self.total - done))
