"""ProcessRunner against a real child process that speaks the worker protocol."""

from __future__ import annotations

import os
import time

import pytest

from coin_slicer.process_runner import ProcessRunner, parseProgressLine


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child of a still-running parent stays a zombie until reaped; it no longer runs
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_progress_lines_are_parsed_and_plain_output_goes_to_the_log(protocol_child):
    runner = ProcessRunner([*protocol_child, "progress"])
    events, logs, finished = [], [], []
    runner.progress.connect(events.append)
    runner.log.connect(logs.append)
    runner.finished.connect(finished.append)
    runner.start()
    result = runner.wait(timeout=30)
    assert result.succeeded
    assert [e["done"] for e in events if e["stage"] == "counterfactual"] == [1, 2, 3]
    assert events[0]["metrics"]["eta_s"] == 3
    assert result.lastEvent["stage"] == "done"
    assert result.lastEvent["metrics"]["outputs"]["segmentation"] == "x.seg.nrrd"
    assert "a plain log line that is not JSON" in logs and "a warning on stderr" in logs
    assert finished == [result]
    assert not runner.isRunning()


def test_a_failed_worker_surfaces_its_error_line(protocol_child):
    result = ProcessRunner([*protocol_child, "error"])
    result.start()
    outcome = result.wait(timeout=30)
    assert outcome.returnCode == 2 and not outcome.succeeded and not outcome.cancelled
    assert outcome.errorMessage == "The model folder 'bad' has no model.json."


def test_a_crash_without_protocol_error_surfaces_the_stderr_tail(protocol_child):
    runner = ProcessRunner([*protocol_child, "stderr-only"])
    runner.start()
    result = runner.wait(timeout=30)
    assert result.returnCode == 3
    assert "RuntimeError: boom" in result.errorMessage


def test_cancel_kills_the_whole_process_tree_including_the_grandchild(protocol_child, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    runner = ProcessRunner([*protocol_child, "tree", str(pidfile)])
    started = []
    runner.progress.connect(started.append)
    runner.start()
    deadline = time.monotonic() + 30
    while not started and time.monotonic() < deadline:
        runner.processEvents()
        time.sleep(0.05)
    assert started, "the child never reported progress"
    grandchild = int(pidfile.read_text())
    assert _pid_alive(grandchild) and _pid_alive(runner.pid)
    runner.cancel(gracePeriod=2)
    result = runner.wait(timeout=30)
    assert result.cancelled and not result.succeeded
    assert result.errorMessage == "Cancelled by the user."
    deadline = time.monotonic() + 10
    while _pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(grandchild), "cancel left the grandchild running"


def test_a_missing_executable_raises_an_error_naming_it(tmp_path):
    runner = ProcessRunner([str(tmp_path / "no-such-python"), "-c", "pass"])
    with pytest.raises(RuntimeError, match="no-such-python"):
        runner.start()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"stage": "read", "done": 1}', {"stage": "read", "done": 1}),
        ("plain text", None),
        ('{"no_stage": 1}', None),
        ("{broken json", None),
    ],
)
def test_only_json_objects_with_a_stage_are_protocol_lines(line, expected):
    assert parseProgressLine(line) == expected
