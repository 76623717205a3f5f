"""The GPU run in one command: train the ``paper`` preset for a fixed wall time, evaluate it, time
``coin segment`` on the real CT, and keep everything in one folder.

On a machine with one CUDA GPU, Python 3.12 and a CUDA torch, no network and nothing of ours
installed, from the repo root (the bundle comes from benchmarks/gpu_prepare.py on a CPU machine)::

    python3 benchmarks/gpu_run.py OUT --bundle BUNDLE            # about 9 minutes on one H100 / H200
    python3 benchmarks/gpu_run.py OUT --bundle BUNDLE --smoke    # the same path on CPU, about a minute

Steps (each logged to OUT/<step>.log, timed in OUT/summary.json):

1. environment: Python, torch, CUDA device (refused without one unless --smoke);
2. packages: each module of requirements/gpu_run.txt that does not import is installed from
   BUNDLE/wheels with ``pip install --no-index --find-links --no-deps --target`` into a temporary
   folder put on PYTHONPATH (nothing is installed into the machine's Python);
3. ``coin train --config paper --max-minutes 7`` (bf16 autocast and channels_last come from the preset
   on CUDA; the classifier gets at most 40 % of the time, the GAN runs until the budget is spent),
   events in OUT/events.jsonl, the model in OUT/run/model (with its anatomy gate);
4. ``coin evaluate`` of that model on the test split, thresholds tuned on val: OUT/evaluation/results.md;
5. ``coin segment`` of the 133-slice CT, timed: OUT/segment/ and the done event in OUT/segment.jsonl;
6. OUT/summary.json and OUT/summary.md: timings, device, versions, the table.

--smoke uses the ``small`` preset with a few steps, a 0.3-minute budget and the CPU. The script uses the
standard library only (it runs before any package is installed); it refuses an OUT that exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements" / "gpu_run.txt"
#: requirement name -> module to import
MODULES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "simpleitk": "SimpleITK",
    "safetensors": "safetensors",
    "pyyaml": "yaml",
    "tqdm": "tqdm",
    "pillow": "PIL",
}
SMOKE_CONFIG = """\
base: small
classifier: {epochs: 2, steps_per_epoch: 3, batch_size: 8}
gan: {batch_size: 4, max_steps: 6, checkpoint_every: 100, log_every: 2}
num_workers: 0
"""


class Run:
    """The output folder, the environment for the coin commands, and the step timings."""

    def __init__(self, out: Path, env: dict[str, str]) -> None:
        self.out, self.env = out, env
        self.steps: dict[str, dict] = {}

    def coin(self, step: str, *args: str, stdout_file: Path | None = None) -> float:
        """Run ``python -m coin_core ARGS`` from the repo root; log to OUT/<step>.log; return seconds."""
        cmd = [sys.executable, "-m", "coin_core", *args]
        log = self.out / f"{step}.log"
        print(f"[{step}] {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        with (
            open(log, "w", encoding="utf-8") as err,
            open(stdout_file or log.with_suffix(".out"), "w") as out,
        ):
            rc = subprocess.run(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=err).returncode
        seconds = time.monotonic() - t0
        self.steps[step] = {"command": " ".join(["coin", *args]), "seconds": round(seconds, 1), "rc": rc}
        print(f"[{step}] exit {rc} after {seconds:.1f} s (log: {log})", flush=True)
        if rc != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            self.finish(failed=step)
            sys.exit(f"gpu_run: step '{step}' failed (exit {rc}); last lines of {log}:\n" + "\n".join(tail))
        return seconds

    def finish(self, failed: str | None = None, extra: dict | None = None) -> None:
        summary = {"failed_step": failed, "steps": self.steps, **(extra or {})}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def environment(smoke: bool) -> dict:
    """Python, torch and the device; exits when torch is missing or (without --smoke) CUDA is."""
    try:
        import torch
    except ImportError:
        sys.exit("gpu_run: torch is not installed; install a CUDA build of torch first.")
    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda}
    if smoke:
        return {**info, "device": "cpu"}
    if not torch.cuda.is_available():
        sys.exit("gpu_run: no CUDA device is visible to torch; use --smoke for the CPU check.")
    props = torch.cuda.get_device_properties(0)
    memory = round(props.total_memory / 2**30, 1)
    bf16 = torch.cuda.is_bf16_supported()
    return {**info, "device": "cuda", "gpu": props.name, "gpu_memory_gib": memory, "bf16": bf16}


def install_missing(wheels: Path, target: Path) -> list[str]:
    """Install the requirements whose module does not import, from ``wheels``, into ``target``."""
    lines = [ln.split("#")[0].strip() for ln in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    missing = []
    for req in filter(None, lines):
        module = MODULES[req.split("==")[0].lower()]
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        if probe.returncode != 0:
            missing.append(req)
    if missing:
        if not wheels.is_dir():
            sys.exit(f"gpu_run: {missing} are missing and there is no wheel folder {wheels}.")
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--no-deps",
               "--target", str(target), *missing]  # fmt: skip
        print("[packages] " + " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"gpu_run: could not install {missing} from {wheels} (see pip's message above); "
                     "prepare the bundle with benchmarks/gpu_prepare.py for Python 3.12.")  # fmt: skip
    return missing


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output folder (created; refused when it exists)")
    p.add_argument("--bundle", type=Path, required=True, help="folder from benchmarks/gpu_prepare.py")
    p.add_argument("--smoke", action="store_true", help="the same path on CPU with a tiny schedule")
    p.add_argument("--minutes", type=float, default=None, help="training wall time (7; smoke: 0.3)")
    p.add_argument("--config", default=None, help="training preset or YAML (paper; smoke: a tiny small)")
    args = p.parse_args(argv)

    out, bundle = args.out.resolve(), args.bundle.resolve()
    if out.exists():
        sys.exit(f"gpu_run: {out} exists; choose a new folder (an earlier run is never overwritten).")
    bench, cts = bundle / "bench", sorted((bundle / "ct").glob("*.nii*"))
    if not (bench / "benchmark.json").is_file() or not cts:
        sys.exit(f"gpu_run: {bundle} lacks bench/benchmark.json or ct/*.nii.gz (benchmarks/gpu_prepare.py).")
    t_start = time.monotonic()
    info = environment(args.smoke)
    out.mkdir(parents=True)
    deps = Path(tempfile.mkdtemp(prefix="coin-gpu-deps-"))
    try:
        installed = install_missing(bundle / "wheels", deps)
        paths = [str(ROOT), str(deps), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        run = Run(out, env)
        device = info["device"]
        minutes = args.minutes if args.minutes is not None else (0.3 if args.smoke else 7.0)
        config = args.config or "paper"
        if args.smoke and args.config is None:
            config = str(out / "smoke_config.yaml")
            Path(config).write_text(SMOKE_CONFIG, encoding="utf-8")
        progress = ["--progress", "text"]
        run.coin("train", "train", "--data", str(bench), "--out", str(out / "run"), "--config", config,
                 "--max-minutes", f"{minutes:g}", "--device", device, "--events-jsonl",
                 str(out / "events.jsonl"), *progress)  # fmt: skip
        model = out / "run" / "model"
        run.coin("evaluate", "evaluate", "--model", str(model), "--data", str(bench), "--split", "test",
                 "--methods", "coin", "--device", device, "--out", str(out / "evaluation"),
                 *progress)  # fmt: skip
        seg = run.coin("segment", "segment", "--model", str(model), "--input", str(cts[0]), "--output-dir",
                       str(out / "segment"), "--device", device, "--progress", "jsonl",
                       stdout_file=out / "segment.jsonl")  # fmt: skip
        done = json.loads((out / "segment.jsonl").read_text(encoding="utf-8").strip().splitlines()[-1])
        extra = {
            "environment": info,
            "installed_from_wheels": installed,
            "training_minutes": minutes,
            "config": config,
            "gan_steps": json.loads((model / "model.json").read_text())["validation_metrics"].get(
                "gan_steps"
            ),
            "segment": {"wall_seconds": round(seg, 1), **done.get("metrics", {})},
            "total_seconds": round(time.monotonic() - t_start, 1),
        }
        run.finish(extra=extra)
        _write_markdown(out, extra, run.steps)
    finally:
        shutil.rmtree(deps, ignore_errors=True)
    print(f"gpu_run: done in {time.monotonic() - t_start:.0f} s; see {out / 'summary.md'}")
    return 0


def _write_markdown(out: Path, extra: dict, steps: dict) -> None:
    env = extra["environment"]
    seg = extra["segment"]
    lines = [
        f"# GPU run ({env.get('gpu', env['device'])}, torch {env['torch']}, Python {env['python']})",
        "",
        "| step | command | seconds |",
        "|---|---|---|",
        *(f"| {k} | `{v['command']}` | {v['seconds']} |" for k, v in steps.items()),
        f"| total | | {extra['total_seconds']} |",
        "",
        f"GAN steps in {extra['training_minutes']:g} minutes: {extra['gan_steps']}. `coin segment`, CT: "
        f"{seg.get('slices')} slices, {seg.get('counterfactual_slices')} counterfactuals, network "
        f"{seg.get('network_seconds')} s ({seg.get('slices_per_s')} slices/s), wall {seg['wall_seconds']} s "
        f"(with start-up, reading and writing).",
        "",
    ]
    table = out / "evaluation" / "results.md"
    if table.is_file():
        lines += [
            "## coin evaluate (test split, thresholds tuned on val)",
            "",
            table.read_text(encoding="utf-8"),
        ]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
