"""``coin model``: operations on an existing model folder.

``coin model fit-gate`` fits the anatomy gate (docs/anatomy_gate.md) of a model on the slice set
it was trained on and writes it into the folder (``gate.safetensors`` + the card's
``anatomy_gate`` section, together). ``coin train`` does the same at its end; this command is for
model folders made before, or to refit with another margin.
"""

from __future__ import annotations

import argparse
import sys

from coin_core.cli.progress_bar import Reporter, add_progress_option
from coin_core.gate.stats import DEFAULT_MARGIN, DEFAULT_QUANTILE

EPILOG = """\
example:
  coin model fit-gate --model Resources/DemoModel --data ~/.cache/coin/bench-kidney-30mm --overwrite
The threshold is margin x the quantile of the val slices' scores; the card records how many val
slices (normal and abnormal) pass.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``model`` and its sub-command ``fit-gate``."""
    p = subparsers.add_parser(
        "model",
        help="operations on a model folder (fit-gate)",
        description="Operations on an existing model folder.",
    )
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")
    g = sub.add_parser(
        "fit-gate",
        help="fit the anatomy gate: which slices look like the model's training slices",
        description="Fit the model's anatomy gate on the slice set it was trained on (statistics from "
        "the train split, threshold from val) and write it into the model folder. coin segment skips "
        "slices outside it and lists them as outside the model's training anatomy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("--model", required=True, metavar="M", help="model folder (model.json + *.safetensors)")
    g.add_argument(
        "--data", required=True, metavar="BENCH", help="the slice set the model was trained on (train, val)"
    )
    g.add_argument(
        "--quantile",
        type=float,
        default=DEFAULT_QUANTILE,
        metavar="Q",
        help=f"quantile of the val scores the threshold starts from ({DEFAULT_QUANTILE})",
    )
    g.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        metavar="X",
        help=f"threshold = X times that quantile, X >= 1 ({DEFAULT_MARGIN})",
    )
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (auto)")
    g.add_argument("--overwrite", action="store_true", help="replace a gate the model already holds")
    add_progress_option(g)
    g.set_defaults(func=_run_fit_gate)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run_fit_gate(args: argparse.Namespace) -> int:
    from coin_core.gate.fit import fit_model_gate

    with Reporter(args.progress, bars={"gate": "step"}, quiet=("done",)) as reporter:
        section = fit_model_gate(
            args.model,
            args.data,
            quantile=args.quantile,
            margin=args.margin,
            overwrite=args.overwrite,
            device=args.device,
            progress=reporter,
        )
    check = section["check"]
    print(
        f"anatomy gate of {args.model}: threshold {section['threshold']:.4f} (= {section['margin']:g} x the "
        f"{section['quantile']:g} quantile of {section['val_samples']} val scores, stages "
        f"{', '.join(section['layers'])}); val normal {check['normal_passed']}/{check['normal']} and "
        f"abnormal {check['abnormal_passed']}/{check['abnormal']} pass."
    )
    return 0
