"""Run a worker command in a child process and turn its JSON progress lines into signals.

The worker (``python -m coin_core segment ... --progress jsonl``, see docs/internals.md) prints one
JSON object per line on stdout. A reader thread puts the parsed lines on a queue; ``processEvents()``
drains the queue and emits the signals *in the caller's thread*, so the Slicer GUI can call it from
a ``qt.QTimer`` on the main thread and scripts can simply call ``wait()``.

``cancel()`` ends the whole process tree: the child starts in its own session (POSIX) or process
group (Windows). The group first gets SIGINT, which Python turns into KeyboardInterrupt, so the coin
commands stop at their next safe point (``coin train`` saves a checkpoint, ``coin segment`` keeps
no partial output); whatever is left after the grace period is killed.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .signals import Signal

CANCEL_EXIT_CODE = 130


@dataclass
class ProcessResult:
    """How a worker run ended.

    Attributes:
        returnCode: the child's exit status (negative: killed by that signal on POSIX).
        cancelled: True when ``cancel()`` ended the run (or the worker exited with code 130).
        errorMessage: the worker's ``{"stage": "error"}`` message, else the tail of its stderr.
        lastEvent: the last JSON line (on success the ``"stage": "done"`` line with the outputs).
        events: every JSON line received, in order.
    """

    returnCode: int
    cancelled: bool = False
    errorMessage: str = ""
    lastEvent: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.returnCode == 0 and not self.cancelled


def parseProgressLine(line: str) -> dict[str, Any] | None:
    """Return the JSON object of a protocol line, or None for any other output."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "stage" in event else None


class ProcessRunner:
    """One child process speaking the worker protocol.

    Signals (emitted from ``processEvents()`` / ``wait()``, never from the reader thread):
        progress(event: dict): one parsed protocol line.
        log(line: str): one line of non-protocol output (stdout or stderr).
        finished(result: ProcessResult): once, after the process ended and its output was read.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.args = [str(a) for a in args]
        self.env = env
        self.cwd = cwd
        self.progress = Signal("event")
        self.log = Signal("line")
        self.finished = Signal("result")
        self.result: ProcessResult | None = None
        self._proc: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()
        self._events: list[dict[str, Any]] = []
        self._stderrTail: deque[str] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._cancelRequested = False
        self._groupKilled = False
        self._killDeadline = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def isRunning(self) -> bool:
        """True from ``start()`` until ``finished`` was emitted."""
        return self._proc is not None and self.result is None

    def start(self) -> None:
        """Start the child; raises ``RuntimeError`` naming the command if it cannot start."""
        if self._proc is not None:
            raise RuntimeError("This ProcessRunner was already started; create a new one for a new run.")
        kwargs: dict[str, Any] = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        try:
            self._proc = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                cwd=self.cwd,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                **kwargs,
            )
        except OSError as err:
            raise RuntimeError(
                f"Could not start the worker '{self.args[0]}': {err}. Check that this Python exists."
            ) from err
        for stream, name in ((self._proc.stdout, "stdout"), (self._proc.stderr, "stderr")):
            thread = threading.Thread(target=self._readStream, args=(stream, name), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _readStream(self, stream, name: str) -> None:  # noqa: ANN001
        for line in iter(stream.readline, ""):
            self._queue.put((name, line.rstrip("\r\n")))
        stream.close()

    def processEvents(self) -> bool:
        """Emit the signals for everything received so far; return True while the run is going on."""
        if self._proc is None or self.result is not None:
            return False
        self._enforceCancel()
        self._drainQueue()
        if self._proc.poll() is None or any(t.is_alive() for t in self._threads):
            return True
        for thread in self._threads:
            thread.join()
        self._drainQueue()
        self.result = self._makeResult(self._proc.returncode)
        self.finished.emit(self.result)
        return False

    def _drainQueue(self) -> None:
        while True:
            try:
                name, line = self._queue.get_nowait()
            except queue.Empty:
                return
            event = parseProgressLine(line) if name == "stdout" else None
            if event is not None:
                self._events.append(event)
                self.progress.emit(event)
                continue
            if name == "stderr" and line.strip():
                self._stderrTail.append(line)
            self.log.emit(line)

    def _makeResult(self, returnCode: int) -> ProcessResult:
        lastEvent = self._events[-1] if self._events else {}
        cancelled = self._cancelRequested or returnCode == CANCEL_EXIT_CODE
        errorMessage = ""
        if returnCode != 0 and not cancelled:
            errors = [e for e in self._events if e.get("stage") == "error"]
            if errors:
                errorMessage = str(errors[-1].get("message", ""))
            else:
                tail = "\n".join(self._stderrTail).strip()
                errorMessage = tail or f"The worker stopped with exit code {returnCode} and no message."
        elif cancelled:
            errorMessage = "Cancelled by the user."
        return ProcessResult(returnCode, cancelled, errorMessage, lastEvent, list(self._events))

    def wait(self, timeout: float | None = None, pollInterval: float = 0.05) -> ProcessResult:
        """Block until the child ended, emitting signals as lines arrive; returns the result.

        Raises:
            TimeoutError: ``timeout`` seconds passed; the process keeps running (call ``cancel()``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.processEvents():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"The worker did not finish within {timeout} s.")
            time.sleep(pollInterval)
        if self.result is None:
            raise RuntimeError("wait() was called before start().")
        return self.result

    def cancel(self, gracePeriod: float = 3.0) -> None:
        """Ask the child and everything it started to stop; kill them after ``gracePeriod`` seconds.

        Does not block: the kill happens in ``processEvents()`` / ``wait()``, so the GUI keeps running
        while, for example, the trainer writes its checkpoint.
        """
        if self._proc is None or self.result is not None or self._cancelRequested:
            return
        self._cancelRequested = True
        self._killDeadline = time.monotonic() + gracePeriod
        _signalTree(self._proc, kill=False)

    def _enforceCancel(self) -> None:
        if not self._cancelRequested or self._groupKilled:
            return
        # kill the group once the child is gone (grandchildren may still hold the pipes) or time is up
        if self._proc.poll() is not None or time.monotonic() >= self._killDeadline:
            _signalTree(self._proc, kill=True)
            self._groupKilled = True


def _signalTree(proc: subprocess.Popen, kill: bool) -> None:
    if os.name == "nt":
        if kill:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True, check=False)
        else:
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGINT)
    except ProcessLookupError:
        pass  # the whole group has already exited


def workerEnvironment(pythonPathEntries: list[str]) -> dict[str, str]:
    """A copy of this process's environment with ``pythonPathEntries`` first on PYTHONPATH."""
    env = dict(os.environ)
    existing = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join([*pythonPathEntries, *([existing] if existing else [])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pythonExecutable() -> str:
    """The interpreter for workers: ``PythonSlicer`` inside Slicer, else this interpreter."""
    import shutil

    if "slicer" in sys.modules and hasattr(sys.modules["slicer"], "app"):
        found = shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable
