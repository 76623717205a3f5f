"""``coin evaluate``: score COIN, Singla* and the attribution baselines on a BENCH split.

Example::

    coin evaluate --model runs/new/model --label "COIN, new recipe" \\
        --compare-model "COIN, paper recipe=Resources/DemoModel" --data bench --split test \\
        --methods coin,singla,rise,scorecam,layercam,gradcam --singla-model runs/singla --out results/

writes ``results/results.json`` and ``results/results.md`` and prints the table: one row per method
and compared COIN model, plus the two host-organ baselines (coin_core/evaluation/evaluate.py).
``--write-threshold`` stores the main model's val-tuned threshold in its model card. Progress:
``--progress`` as for every command (coin_core/cli/progress_bar.py): a bar per method and split.
"""

from __future__ import annotations

import argparse
import sys

from coin_core.cli.progress_bar import Reporter, add_progress_option
from coin_core.evaluation.bootstrap import RESAMPLES
from coin_core.evaluation.thresholds import MARGIN_GRID_MM, POSTPROCESS_CHOICES
from coin_core.infer.postprocess import DEFAULT_POSTPROCESS


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
    p.add_argument("--label", default="COIN", help="the main model's row label in the table (COIN)")
    p.add_argument(
        "--compare-model",
        action="append",
        default=[],
        metavar="LABEL=FOLDER",
        help="another COIN model folder as a row of its own, labelled LABEL (repeatable)",
    )
    p.add_argument(
        "--write-threshold",
        action="store_true",
        help="write the main model's val-tuned threshold and mask margin (coin row) into its model.json, "
        "with their source",
    )
    p.add_argument(
        "--bootstrap-resamples",
        type=int,
        default=RESAMPLES,
        help=f"resamples of the 95%% intervals (source slices resampled; {RESAMPLES})",
    )
    p.add_argument("--rise-masks", type=int, default=6000, help="RISE mask count (paper: 6000)")
    p.add_argument(
        "--postprocess",
        default=DEFAULT_POSTPROCESS,
        choices=POSTPROCESS_CHOICES,
        help=f"clean-up for every method ({DEFAULT_POSTPROCESS})",
    )
    p.add_argument(
        "--margins",
        default=",".join(f"{m:g}" for m in MARGIN_GRID_MM),
        metavar="MM,MM,...",
        help="mask margins (mm) tuned on val jointly with the threshold, for every method "
        f"({','.join(f'{m:g}' for m in MARGIN_GRID_MM)}; 0 = the paper's masks, no margin)",
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
    add_progress_option(p)
    p.set_defaults(func=run)


def _methods(args: argparse.Namespace) -> tuple[str, ...]:
    from coin_core.evaluation.evaluate import ALL_METHODS

    if args.methods:
        return tuple(m.strip().lower() for m in args.methods.split(",") if m.strip())
    return tuple(m for m in ALL_METHODS if m != "singla" or args.singla_model)


def _margins(text: str) -> tuple[float, ...]:
    """``--margins`` as a tuple of millimetres."""
    from coin_core.errors import CoinError

    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CoinError(
            f"--margins expects millimetres separated by commas, got {text!r}.", "e.g. --margins 0,1,2,3."
        ) from None


def _compared(specs: list[str]) -> list[tuple[str, str]]:
    """``LABEL=FOLDER`` strings as (label, folder) pairs."""
    from coin_core.errors import CoinError

    out = []
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label.strip() or not folder.strip():
            raise CoinError(
                f"--compare-model expects LABEL=FOLDER, got {spec!r}.",
                'e.g. --compare-model "COIN, paper recipe=Resources/DemoModel".',
            )
        out.append((label.strip(), folder.strip()))
    return out


def _unit(stage: str) -> str | None:
    """Bars for the per-method stages (``coin:val``, ``rise:test``, ...); ``method`` lines between."""
    return "batch" if ":" in stage else None


def run(args: argparse.Namespace) -> int:
    # the reporter closes its bar and, in jsonl mode, writes the error line on any failure
    with Reporter(args.progress, bars=_unit) as reporter:
        return _run(args, reporter)


def _run(args: argparse.Namespace, reporter: Reporter) -> int:
    import platform
    from pathlib import Path

    import torch

    from coin_core import __version__
    from coin_core.device import pick_device
    from coin_core.errors import CoinError
    from coin_core.evaluation.evaluate import EvaluationSettings, evaluate
    from coin_core.evaluation.report import markdown_table, write_results
    from coin_core.fileutil import OutputSet
    from coin_core.modelfile import load_model

    settings = EvaluationSettings(
        methods=_methods(args),
        split=args.split,
        val_split=args.val_split,
        postprocess=args.postprocess,
        margins=_margins(args.margins),
        rise_masks=args.rise_masks,
        batch_size=args.batch_size,
        max_val_slices=args.max_val_slices,
        inception_weights=args.inception_weights,
        bootstrap_resamples=args.bootstrap_resamples,
    )
    settings.validate()
    compared = _compared(args.compare_model)
    if args.write_threshold and "coin" not in settings.methods:
        raise CoinError(
            "--write-threshold stores the 'coin' row's tuned threshold, but 'coin' is not among --methods.",
            "add coin to --methods (e.g. --methods coin).",
        )
    out = Path(args.out)
    OutputSet([out / "results.json", out / "results.md"], overwrite=args.overwrite)  # refuse early
    device = pick_device(args.device)
    model = load_model(args.model, device=str(device))
    singla = load_model(args.singla_model, device=str(device)) if args.singla_model else None
    others = [(label, load_model(folder, device=str(device))) for label, folder in compared]
    results = evaluate(model, args.data, settings, singla_model=singla, compare_models=others,
                       label=args.label, progress=reporter)  # fmt: skip
    reporter.close()
    for label, folder in compared:
        results["methods"][f"coin@{label}"]["model"] = str(folder)
    if "coin" in results["methods"]:
        results["methods"]["coin"]["model"] = str(args.model)
    results.update(
        model=str(args.model),
        singla_model=str(args.singla_model) if args.singla_model else None,
        compare_models=dict(compared),
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
    card = _write_threshold(args, results) if args.write_threshold else None
    outputs = {"results": str(js), "table": str(md), **({"model_card": str(card)} if card else {})}
    if reporter.json_line({"stage": "done", "metrics": {"outputs": outputs}}):
        return 0
    print(markdown_table(results))
    print(f"wrote {js}\nwrote {md}")
    if card:
        row = results["methods"]["coin"]
        print(f"wrote threshold {row['threshold']:g} and margin {row.get('margin_mm') or 0:g} mm into {card}")
    return 0


def _write_threshold(args: argparse.Namespace, results: dict):  # noqa: ANN202 - a Path
    """Store the main model's tuned threshold and margin, with how they were found, in its model card."""
    from coin_core.modelfile import read_card, threshold_source, write_threshold

    row = results["methods"]["coin"]
    s = results["settings"]
    before = read_card(args.model)
    source = threshold_source(
        results["val_split"],
        s["postprocess"],
        row["val_micro_iou"],
        row["n_val_slices"],
        bench=str(args.data),
        grid="default" if s.get("thresholds") is None else s["thresholds"],
        margins_mm=row.get("sweep", {}).get("margins_mm"),
        previous_threshold=before.threshold,
        previous_margin_mm=before.margin_mm,
        written_by="coin evaluate --write-threshold",
    )
    return write_threshold(args.model, row["threshold"], source, float(row.get("margin_mm") or 0.0))
