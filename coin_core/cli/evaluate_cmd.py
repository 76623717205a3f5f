"""``coin evaluate``: score COIN, Singla* and the attribution baselines on a BENCH split.

Example::

    coin evaluate --model runs/coin --data bench --split test \\
        --methods coin,singla,rise,scorecam,layercam,gradcam --singla-model runs/singla --out results/

writes ``results/results.json`` and ``results/results.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score COIN and the baselines on a prepared slice set (micro IoU, Dice, CV, FD)",
        description="Score every method on the same fixed slices of a BENCH folder. Thresholds are "
        "tuned on the validation split (micro IoU); the paper's fixed thresholds are reported too.",
    )
    p.add_argument("--model", required=True, help="COIN model folder (its classifier is the explained f)")
    p.add_argument("--data", required=True, help="prepared slice set folder (BENCH)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score")
    p.add_argument("--val-split", default="val", choices=("train", "val", "test"), help="split to tune on")
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated subset of coin,singla,rise,scorecam,layercam,gradcam "
        "(default: all, singla only when --singla-model is given)",
    )
    p.add_argument("--singla-model", default=None, help="Singla* model folder (coin train --config singla)")
    p.add_argument("--rise-masks", type=int, default=6000, help="RISE mask count (paper: 6000)")
    p.add_argument(
        "--postprocess", default="paper", choices=("paper", "none"), help="clean-up for every method"
    )
    p.add_argument(
        "--max-val-slices", type=int, default=None, help="cap on abnormal val slices used for tuning"
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--inception-weights",
        default=None,
        metavar="FILE",
        help="FID InceptionV3 weights as .safetensors (torch-fidelity/pytorch-fid keys); adds fd_inception",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--out", required=True, help="output folder for results.json and results.md")
    p.add_argument("--overwrite", action="store_true", help="replace existing results files")
    p.add_argument("--progress", default="text", choices=("text", "jsonl", "none"), help="progress output")
    p.set_defaults(func=run)


def _methods(args: argparse.Namespace) -> tuple[str, ...]:
    from coin_core.evaluation.evaluate import ALL_METHODS

    if args.methods:
        return tuple(m.strip().lower() for m in args.methods.split(",") if m.strip())
    return tuple(m for m in ALL_METHODS if m != "singla" or args.singla_model)


def _printer(kind: str):  # noqa: ANN202
    if kind == "none":
        return None
    if kind == "jsonl":
        return lambda ev: print(ev.to_json(), flush=True)

    import time

    last: dict[str, float] = {}

    def text(ev) -> None:  # noqa: ANN001 - one line per stage every few seconds, and its last one
        now = time.monotonic()
        final = ev.total is not None and ev.done >= ev.total
        if not final and now - last.get(ev.stage, -1e9) < 5.0:
            return
        last[ev.stage] = now
        total = f"/{ev.total}" if ev.total else ""
        print(f"[{ev.stage}] {ev.done}{total} {ev.message}", file=sys.stderr, flush=True)

    return text


def run(args: argparse.Namespace) -> int:
    import json
    import platform
    from pathlib import Path

    import torch

    from coin_core import __version__
    from coin_core.device import pick_device
    from coin_core.evaluation.evaluate import EvaluationSettings, evaluate
    from coin_core.evaluation.report import markdown_table, write_results
    from coin_core.fileutil import OutputSet
    from coin_core.modelfile import load_model

    settings = EvaluationSettings(
        methods=_methods(args),
        split=args.split,
        val_split=args.val_split,
        postprocess=args.postprocess,
        rise_masks=args.rise_masks,
        batch_size=args.batch_size,
        max_val_slices=args.max_val_slices,
        inception_weights=args.inception_weights,
    )
    settings.validate()
    out = Path(args.out)
    OutputSet([out / "results.json", out / "results.md"], overwrite=args.overwrite)  # refuse early
    device = pick_device(args.device)
    model = load_model(args.model, device=str(device))
    singla = load_model(args.singla_model, device=str(device)) if args.singla_model else None
    results = evaluate(model, args.data, settings, singla_model=singla, progress=_printer(args.progress))
    results.update(
        model=str(args.model),
        singla_model=str(args.singla_model) if args.singla_model else None,
        software={"coin": __version__, "torch": torch.__version__},
        machine={
            "device": str(device),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        command="coin " + " ".join(sys.argv[1:]) if sys.argv[1:] else None,
    )
    js, md = write_results(results, out, overwrite=args.overwrite)
    if args.progress != "jsonl":
        print(markdown_table(results))
        print(f"wrote {js}\nwrote {md}")
    else:
        done = {"stage": "done", "metrics": {"outputs": {"results": str(js), "table": str(md)}}}
        print(json.dumps(done), flush=True)
    return 0
