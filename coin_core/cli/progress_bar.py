"""A generic terminal view of :class:`coin_core.progress.ProgressEvent` streams.

Events with a ``total`` drive one tqdm bar per stage (with ETA); the others print their message.
Everything goes to stderr so stdout stays clean for results.
"""

from __future__ import annotations

import sys


class ProgressBar:
    """Callable progress sink: ``with ProgressBar() as bar: library_call(progress=bar)``."""

    def __init__(self, file=sys.stderr) -> None:  # noqa: ANN001
        self.file = file
        self._bar = None
        self._stage: str | None = None

    def __call__(self, event) -> None:  # noqa: ANN001
        from tqdm import tqdm

        if event.total and event.total > 1:
            if self._bar is None or self._stage != event.stage:
                self.close()
                self._stage = event.stage
                self._bar = tqdm(total=event.total, desc=event.stage, file=self.file, leave=False)
            self._bar.update(max(0, event.done - self._bar.n))
            return
        self.close()
        if event.message:
            print(f"{event.stage}: {event.message}", file=self.file)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()
