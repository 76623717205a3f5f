"""The one progress reporter of the ``coin`` CLI: turns :class:`coin_core.progress.ProgressEvent`
streams into a tqdm bar, periodic text lines, JSON lines, or nothing.

Every long command takes ``--progress auto|bar|text|jsonl|none`` (:func:`add_progress_option`):

* ``auto`` (the default): ``bar`` when stderr is a terminal, else ``text`` (logs stay readable);
* ``bar``: one tqdm bar per stage that has a total (ETA, unit, optional metrics postfix) on stderr;
  other events print ``[stage] message`` above the bar (``tqdm.write``);
* ``text``: the same lines on stderr, plus one ``[stage] done/total ...`` line per bar stage at most
  every ``text_every`` seconds (and its first and last one);
* ``jsonl``: every event as one JSON object per line on stdout (the worker protocol of
  docs/internals.md); an error or cancel adds one ``{"stage": "error", "message": ...}`` line;
* ``none``: no progress output.

Humans read stderr; stdout carries results (or JSON lines). Use the reporter as a context manager:
the bar is closed on success, error and Ctrl-C alike, and in ``jsonl`` mode the error line is written::

    with Reporter(args.progress, bars={"segment": "slice"}) as rep:
        segment_volume(..., progress=rep)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, TextIO

MODES = ("auto", "bar", "text", "jsonl", "none")
CANCEL_MESSAGE = "Cancelled by the user; no partial outputs were kept."
PROGRESS_HELP = (
    "auto (default): bar when stderr is a terminal, else text; bar: progress bar on stderr; "
    "text: a status line every few seconds on stderr; jsonl: JSON lines on stdout; none"
)

BarSpec = Mapping[str, str] | Callable[[str], str | None] | None


def add_progress_option(parser: argparse.ArgumentParser, *, jsonl: bool = True) -> None:
    """Add the shared ``--progress`` option (default ``auto``) to a sub-command parser."""
    choices = MODES if jsonl else tuple(m for m in MODES if m != "jsonl")
    help_text = PROGRESS_HELP if jsonl else PROGRESS_HELP.replace("; jsonl: JSON lines on stdout", "")
    parser.add_argument("--progress", default="auto", choices=choices, help=help_text)


def resolve_mode(mode: str, stream: TextIO | None = None) -> str:
    """``auto`` -> ``bar`` when ``stream`` (default stderr) is a terminal, else ``text``."""
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    stream = sys.stderr if stream is None else stream
    try:
        return "bar" if stream.isatty() else "text"
    except (AttributeError, ValueError):  # a closed or unusual stream
        return "text"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Reporter:
    """Callable progress sink shared by every ``coin`` sub-command.

    Args:
        mode: one of :data:`MODES` (``auto`` is resolved against ``err``).
        bars: which stages get a bar, and their unit: a ``{stage: unit}`` mapping or a function
            ``stage -> unit | None``; default: every event with a total above 1 (unit "it").
            Events of other stages (or without a total) are message lines.
        labels: bar / line names per stage (default: the stage name).
        postfix: ``{metric key: short name}`` shown after the bar (and on text lines), e.g. losses.
        quiet: stages that never print a line in ``bar`` / ``text`` mode (still in ``jsonl``).
        text_every: seconds between two text lines of the same bar stage.
        err: stream for humans (default: ``sys.stderr``); out: stream for JSON lines (``sys.stdout``).
    """

    def __init__(
        self,
        mode: str = "auto",
        *,
        bars: BarSpec = None,
        labels: Mapping[str, str] | None = None,
        postfix: Mapping[str, str] | None = None,
        quiet: Collection[str] = (),
        text_every: float = 5.0,
        err: TextIO | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.err = sys.stderr if err is None else err
        self.out = sys.stdout if out is None else out
        self.mode = resolve_mode(mode, self.err)
        self.bars = bars
        self.labels = dict(labels or {})
        self.postfix = dict(postfix or {})
        self.quiet = frozenset(quiet)
        self.text_every = text_every
        self._bar: Any = None
        self._bar_stage: str | None = None
        self._runs: dict[str, tuple] = {}

    # ------------------------------------------------------------------ events
    def __call__(self, event) -> None:  # noqa: ANN001 - a ProgressEvent
        if self.mode == "jsonl":
            self._write_line(event.to_json())
            return
        if self.mode == "none":
            return
        unit = self._unit(event)
        if unit is None:
            if event.stage not in self.quiet and event.message:
                self.message(f"[{self._label(event.stage)}] {event.message}")
            return
        if event.stage in self.quiet:
            return
        if self.mode == "bar":
            self._bar_event(event, unit)
        else:
            self._text_event(event, unit)

    def message(self, text: str) -> None:
        """One human line on stderr (above the bar in ``bar`` mode; nothing in jsonl / none)."""
        if self.mode in ("jsonl", "none") or not text:
            return
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(text, file=self.err)
        else:
            print(text, file=self.err, flush=True)

    def json_line(self, obj: Mapping[str, Any]) -> bool:
        """Write ``obj`` as one JSON line on stdout in jsonl mode; returns whether it did."""
        if self.mode != "jsonl":
            return False
        self._write_line(json.dumps(obj, default=float))
        return True

    def _write_line(self, text: str) -> None:
        # One write call per line: ``print`` writes the text and the newline separately, and a
        # Ctrl-C between the two glued the next (error) line onto this one.
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, message: str) -> None:
        """Close the bar; in jsonl mode write the protocol's ``{"stage": "error"}`` line."""
        self.close()
        self.json_line({"stage": "error", "message": message, "time": round(time.time(), 3)})

    def close(self) -> None:
        """Close the open bar, if any (it stays on screen where it stopped)."""
        if self._bar is not None:
            bar, self._bar, self._bar_stage = self._bar, None, None
            bar.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:  # noqa: ANN001
        from coin_core.errors import CoinError

        if exc is None or not isinstance(exc, Exception | KeyboardInterrupt):
            self.close()
        elif isinstance(exc, KeyboardInterrupt):
            self.error(CANCEL_MESSAGE)
        elif isinstance(exc, CoinError):
            self.error(str(exc))
        else:
            self.error(f"{type(exc).__name__}: {exc}")
        return False

    # ------------------------------------------------------------------ helpers
    def _unit(self, event) -> str | None:  # noqa: ANN001
        if not event.total:
            return None
        if self.bars is None:
            return "it" if event.total > 1 else None
        if callable(self.bars):
            return self.bars(event.stage)
        return self.bars.get(event.stage)

    def _label(self, stage: str) -> str:
        return self.labels.get(stage, stage)

    def _shown(self, metrics: Mapping[str, Any]) -> dict[str, str]:
        shown = {}
        for key, name in self.postfix.items():
            value = metrics.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                shown[name] = f"{value:.3g}"
        return shown

    def _bar_event(self, event, unit: str) -> None:  # noqa: ANN001
        from tqdm import tqdm

        bar = self._bar
        if bar is None or self._bar_stage != event.stage or bar.total != event.total or event.done < bar.n:
            self.close()
            self._bar_stage = event.stage
            self._bar = tqdm(
                total=event.total,
                initial=max(0, event.done),
                desc=self._label(event.stage),
                unit=unit,
                file=self.err,
                dynamic_ncols=True,
                leave=True,
            )
        bar = self._bar
        shown = self._shown(event.metrics)
        if shown:
            bar.set_postfix(shown, refresh=False)
        if event.done >= bar.n:
            bar.update(event.done - bar.n)
        else:
            bar.n = event.done
            bar.refresh()
        if event.done >= event.total:
            self.close()

    def _text_event(self, event, unit: str) -> None:  # noqa: ANN001
        now = time.monotonic()
        prev = self._runs.get(event.stage)  # (start time, done at start, last print, last done, total)
        if prev is None or event.done < prev[3] or event.total != prev[4] or prev[3] >= prev[4]:
            prev = (now, event.done, None, event.done, event.total)  # a new run of this stage
        first, last = prev[:2], prev[2]
        final = event.done >= event.total
        if last is not None and not final and now - last < self.text_every:
            self._runs[event.stage] = (*prev[:3], event.done, event.total)
            return
        self._runs[event.stage] = (*prev[:2], now, event.done, event.total)
        parts = [f"[{self._label(event.stage)}] {event.done}/{event.total} {unit}"]
        parts[0] += f" ({100 * event.done / event.total:.0f}%)"
        if event.message:
            parts.append(event.message)
        shown = self._shown(event.metrics)
        if shown:
            parts.append(" ".join(f"{k}={v}" for k, v in shown.items()))
        elapsed, since = now - first[0], event.done - first[1]
        if final:
            parts.append(f"elapsed {_duration(elapsed)}")
        else:
            eta = event.metrics.get("eta_s")
            if not isinstance(eta, int | float) and since > 0:
                eta = elapsed / since * (event.total - event.done)
            if isinstance(eta, int | float):
                parts.append(f"eta {_duration(eta)}")
        print(" | ".join(parts), file=self.err, flush=True)
