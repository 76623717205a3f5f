"""``coin train-classifier`` and ``coin train``: fit the classifier, then the COIN (or Singla*) GAN.

Both report progress with ``--progress`` (coin_core/cli/progress_bar.py: a bar per stage with ETA
and losses on a terminal, periodic text lines in logs, JSON lines on stdout, or nothing);
``--events-jsonl`` also writes machine-readable events to a file. Multi-GPU / multi-node: launch
with torchrun, e.g.
``torchrun --nproc-per-node 4 -m coin_core train --data BENCH --out RUN --config paper``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from coin_core.cli.progress_bar import Reporter, add_progress_option
from coin_core.config import DEFAULT_PRESET, preset_names
from coin_core.progress import ProgressEvent

EPILOG = """\
examples:
  coin train --data bench/kidney --out runs/coin --config small
  coin train --data bench/kidney --out runs/coin --config small --resume      # after Ctrl-C or a crash
  coin train --data bench/kidney --out runs/gpu --config paper --max-minutes 7   # as many steps as fit
  coin train --data bench/kidney --out runs/singla --config singla --classifier runs/coin/classifier
  coin train --data bench/kidney --out runs/x --config my.yaml --dry-run      # print the resolved config
  coin train-classifier --data bench/kidney --out runs/classifier
  torchrun --nproc-per-node 2 -m coin_core train --data bench/kidney --out runs/ddp --config paper
config files: a preset name (small, paper, singla) or a YAML file; a file may start with
'base: small' and change a few keys.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True, metavar="BENCH", help="prepared slice set (coin data synth-lesions)"
    )
    p.add_argument(
        "--config",
        default=DEFAULT_PRESET,
        help=f"preset ({', '.join(preset_names())}) or YAML file ({DEFAULT_PRESET})",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (auto)")
    p.add_argument("--events-jsonl", metavar="PATH", help="also write progress events as JSON lines")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    add_progress_option(p)
    p.add_argument(
        "--no-progress", action="store_true", help="same as --progress none (kept for old scripts)"
    )
    p.add_argument(
        "--threads", type=thread_count, default=0, metavar="N", help="torch CPU threads (0: torch's default)"
    )


def thread_count(text: str) -> int:
    """``--threads``: 0 (torch's default) or a positive number."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; pass 0 (torch's default) or N >= 1"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{value} threads is not possible; pass 0 (torch's default) or N >= 1"
        )
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-classifier`` and ``train``."""
    c = subparsers.add_parser(
        "train-classifier",
        help="train the slice classifier f (ResNet-18) on a prepared slice set",
        description="Train the classifier (BCE, Adam, augmentation with air fill) and keep the weights of "
        "the best validation epoch (by AUC, or by classifier.select: loss | balanced_accuracy) as a "
        "classifier folder (classifier.safetensors + classifier.json).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(c)
    c.add_argument("--out", required=True, metavar="DIR", help="classifier folder to write")
    c.set_defaults(func=_run_classifier)
    t = subparsers.add_parser(
        "train",
        help="train a COIN model (classifier first unless --classifier), ending with RUN/model",
        description="Train the counterfactual generator against a frozen classifier and write the "
        "model folder RUN/model. Checkpoints go to RUN/checkpoints; Ctrl-C saves one and --resume "
        "continues exactly.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(t)
    t.add_argument("--out", required=True, metavar="RUN", help="run folder")
    t.add_argument("--classifier", metavar="CLS", help="trained classifier folder (default: train one)")
    t.add_argument("--resume", action="store_true", help="continue from the newest intact checkpoint in RUN")
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run in RUN (config.yaml, checkpoints/, classifier/, model/); without it "
        "or --resume an earlier run there is refused",
    )
    t.add_argument("--max-steps", type=int, metavar="N", help="override gan.max_steps (total GAN steps)")
    t.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="wall-time budget of the training steps: the classifier starts no epoch after 40 %% of it, "
        "the GAN stops taking steps when it is spent, then validates and writes the model (--resume "
        "continues later)",
    )
    t.set_defaults(func=_run_train)


#: loss terms shown after the bar and on text lines
POSTFIX = {f"Loss/{k}": k for k in ("G/total", "D/total", "G/kl", "C/bce")}


def _reporter(args: argparse.Namespace, is_main: bool) -> Reporter:
    """One bar per training stage (classifier, GAN) with the losses; validation lines above it."""
    mode = "none" if args.no_progress or not is_main else args.progress
    return Reporter(mode, bars={"classifier": "step", "gan": "step"}, labels={"gan": "GAN"}, postfix=POSTFIX,
                    quiet=("checkpoint",))  # fmt: skip


def _load(args: argparse.Namespace):  # noqa: ANN202
    from coin_core.config import load_config

    overrides = {}
    if getattr(args, "max_steps", None) is not None:
        overrides["gan.max_steps"] = args.max_steps
    cfg = load_config(args.config, overrides)
    if args.dry_run:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return cfg


@contextlib.contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[Any, Reporter]]:
    """Threads, device and DDP set up for one training run; yields (ddp info, progress reporter).

    The bar is closed (in jsonl mode: the error line written) and DDP shut down when the block
    ends, also on errors.
    """
    from coin_core.device import pick_device
    from coin_core.train import ddp

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    info = ddp.init_from_env(pick_device(args.device))
    try:
        with _reporter(args, info.is_main) as bar:
            yield info, bar
    finally:
        ddp.shutdown(info)


def _run_classifier(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if args.dry_run:
        return 0
    from coin_core.train.pipeline import load_bench

    with _session(args) as (info, bar):
        t0 = time.monotonic()
        from coin_core.data.window import IntensityWindow
        from coin_core.train.classifier import fit_classifier

        meta, train, val = load_bench(args.data, cfg.model.input_size, cfg.crop)
        window = IntensityWindow.from_dict(meta["window"]).to_dict()
        res = fit_classifier(cfg, train, val, args.out, window=window, device=args.device, progress=bar,
                             events_jsonl=args.events_jsonl)  # fmt: skip
    if info.is_main:
        auc = res.metrics.get("val/auc", float("nan"))
        done = {"outputs": {"classifier": str(res.folder)}, **res.metrics, "seconds": time.monotonic() - t0}
        if bar.mode == "jsonl":
            bar(ProgressEvent("done", 1, 1, "finished", done))
        else:
            bacc = res.metrics.get("val/balanced_accuracy", float("nan"))
            print(
                f"classifier: {res.folder} (kept epoch by {cfg.classifier.select}: val AUC {auc:.4f}, "
                f"balanced accuracy {bacc:.3f}; {time.monotonic() - t0:.0f} s)"
            )
    return 0


def _run_train(args: argparse.Namespace) -> int:
    cfg = _load(args)
    if args.dry_run:
        return 0
    from coin_core.train.pipeline import train_model

    with _session(args) as (info, bar):
        t0 = time.monotonic()
        model_dir = train_model(args.data, args.out, cfg, classifier_dir=args.classifier, resume=args.resume,
                                overwrite=args.overwrite, device=args.device, progress=bar,
                                events_jsonl=args.events_jsonl, max_minutes=args.max_minutes)  # fmt: skip
    if info.is_main:
        if bar.mode == "jsonl":
            done = {"outputs": {"model": str(model_dir)}, "seconds": time.monotonic() - t0}
            bar(ProgressEvent("done", 1, 1, "finished", done))
        else:
            print(f"model: {model_dir} ({time.monotonic() - t0:.0f} s)")
    return 0
