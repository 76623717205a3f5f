"""Training speed of the real GAN loop: steps per second and peak memory for the config presets.

    .venv/bin/python benchmarks/train_speed.py                      # small and paper on the default device
    .venv/bin/python benchmarks/train_speed.py --preset small --steps 20 --threads 1
    .venv/bin/python benchmarks/train_speed.py --preset paper --steps 5 --batch 2 --device cpu

Each preset runs in its own child process (so peak memory is its own) through
``coin_core.train.gan.fit_gan`` on random slices, with the preset's gen_update_freq (E+G every
k-th step, D every step) and no checkpoint writing inside the timed steps. The rate is measured
from the progress events after the first step (warm-up excluded); use a multiple of k timed steps
(the defaults 20 and 5 are) so that G and D-only steps are weighted as in training. Peak memory: the process's
maximum RSS on CPU, ``torch.cuda.max_memory_allocated`` on GPU. The classifier is random (speed
does not depend on its weights).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time


def _child(args: argparse.Namespace) -> None:
    import resource

    import numpy as np
    import torch

    from coin_core.config import load_config
    from coin_core.data.benchmark import SliceArrays
    from coin_core.device import pick_device
    from coin_core.models import build_networks
    from coin_core.train.gan import fit_gan

    if args.threads:
        torch.set_num_threads(args.threads)
    over = {"gan.max_steps": args.steps + 1, "gan.checkpoint_every": 10**6, "gan.val_max_batches": 1}
    if args.batch:
        over["gan.batch_size"] = args.batch
    if args.amp is not None:
        over["amp"] = args.amp == "on"
    cfg = load_config(args.preset[0], over)
    n, s = cfg.gan.batch_size * (args.steps + 1), cfg.model.input_size
    rng = np.random.default_rng(0)
    arrays = SliceArrays(
        image=rng.uniform(-1, 1, (n, s, s)).astype(np.float16),
        label=rng.integers(0, 2, n).astype(np.uint8),
        lesion=np.zeros((n, s, s), np.uint8),
        has_mask=np.ones(n, np.uint8),
        host=np.zeros((n, s, s), np.uint8),
        case=np.zeros(n, np.int32),
        slice_index=np.arange(n, dtype=np.int32),
        draw=np.zeros(n, np.int32),
    )
    device = pick_device(args.device)
    f = build_networks(cfg.model, seed=0, parts=("classifier",)).classifier
    times: list[float] = []

    def on_event(event) -> None:  # noqa: ANN001
        if event.stage == "gan" and event.total:
            times.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        fit_gan(cfg, arrays, arrays.subset(slice(0, cfg.gan.batch_size)), f, tmp, device=str(device),
                progress=on_event)  # fmt: skip
    steps = len(times) - 1
    rate = steps / (times[-1] - times[0])
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        mem = "max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mem = "peak RSS"
    print(json.dumps({"preset": args.preset[0], "device": str(device), "batch": cfg.gan.batch_size,
                      "input_size": s, "gen_update_freq": cfg.gan.gen_update_freq, "steps": steps,
                      "steps_per_s": rate, "images_per_s": rate * cfg.gan.batch_size,
                      "peak_mib": peak, "memory": mem, "threads": torch.get_num_threads(),
                      "amp": cfg.amp and device.type == "cuda"}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", action="append", help="config preset(s) (default: small and paper)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 20 small, 2 paper on CPU)")
    ap.add_argument("--batch", type=int, default=None, help="override the preset's batch size")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--amp", choices=["on", "off"], default=None, help="override the preset's amp")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    import torch

    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if on_gpu else "none"
    threads = args.threads or torch.get_num_threads()
    print(f"# machine: {platform.machine()}, {threads} torch threads, GPU: {gpu}, torch {torch.__version__}")
    print("| preset | device | batch | input | k | steps/s | images/s | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.preset or ["small", "paper"]:
        steps = args.steps or (20 if preset != "paper" or on_gpu else 5)
        batch = args.batch or (2 if preset == "paper" and not on_gpu else None)
        cmd = [sys.executable, __file__, "--child", "--preset", preset, "--steps", str(steps)]
        cmd += ["--device", args.device, "--threads", str(args.threads)]
        if batch:
            cmd += ["--batch", str(batch)]
        if args.amp:
            cmd += ["--amp", args.amp]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        cells = [r["preset"], r["device"], r["batch"], r["input_size"], r["gen_update_freq"]]
        cells += [
            f"{r['steps_per_s']:.3g}",
            f"{r['images_per_s']:.3g}",
            f"{r['peak_mib']:.0f} ({r['memory']})",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
