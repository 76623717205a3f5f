"""A real child process for the ProcessRunner tests: speaks the worker protocol of docs/internals.md.

Usage: python protocol_child.py MODE [PIDFILE]
  progress     3 progress lines, one plain log line, one stderr line, a "done" line; exit 0
  error        one progress line, then {"stage": "error"} and exit 2 (like `coin` after a CoinError)
  stderr-only  a traceback-like text on stderr, exit 3, no protocol error line
  tree         start a grandchild that ignores SIGINT and sleeps (pid to PIDFILE), report progress, sleep
"""

import json
import subprocess
import sys
import time


def emit(stage, done=0, total=None, message="", metrics=None):
    line = {"stage": stage, "done": done, "total": total, "message": message, "metrics": metrics or {}}
    line["time"] = time.time()
    print(json.dumps(line), flush=True)


mode = sys.argv[1]
if mode == "progress":
    for i in range(3):
        emit("counterfactual", i + 1, 3, f"slice block {i + 1} of 3", {"eta_s": 3 - i})
    print("a plain log line that is not JSON", flush=True)
    print("a warning on stderr", file=sys.stderr, flush=True)
    emit("done", 3, 3, "finished", {"outputs": {"segmentation": "x.seg.nrrd"}})
elif mode == "error":
    emit("read", 0, 1, "reading")
    print("coin: error: The model folder 'bad' has no model.json.", file=sys.stderr, flush=True)
    emit("error", message="The model folder 'bad' has no model.json.")
    sys.exit(2)
elif mode == "stderr-only":
    print("Traceback (most recent call last):\nRuntimeError: boom", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "tree":
    # the grandchild ignores the polite interrupt: only the group kill can end it
    ignore = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(120)"
    grandchild = subprocess.Popen([sys.executable, "-c", ignore])
    with open(sys.argv[2], "w") as f:
        f.write(str(grandchild.pid))
    emit("started", 0, None, "grandchild started")
    time.sleep(120)
