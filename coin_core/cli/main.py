"""Entry point of the ``coin`` command.

Every sub-command module in this package exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Heavy imports (torch, SimpleITK) happen inside those functions so ``coin --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from coin_core import __version__
from coin_core.errors import CoinCancelled, CoinError, CoinWarning

# sub-command modules, in the order `coin --help` lists them
COMMAND_MODULES = [
    "data_cmd",
    "train_cmd",
    "segment_cmd",
    "model_cmd",
    "evaluate_cmd",
    "export_cmd",
    "benchmark_cmd",
    "demo_cmd",
    "web_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coin",
        description="COIN: counterfactual inpainting for weakly supervised lesion segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"coin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"coin_core.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"coin_core.cli.{name}":
                continue  # sub-command not built yet
            raise
        module.register(sub)
    return parser


def _show_warnings() -> None:
    """Print ``CoinWarning``s as ``coin: warning: ...`` lines (no file and line of the library)."""
    previous = warnings.showwarning
    if getattr(previous, "coin_cli", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, CoinWarning):
            print(f"coin: warning: {message}", file=sys.stderr, flush=True)
        else:
            previous(message, category, filename, lineno, file, line)

    show.coin_cli = True
    warnings.showwarning = show
    warnings.simplefilter("always", CoinWarning)


def main(argv: list[str] | None = None) -> int:
    _show_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CoinCancelled as err:
        print(f"coin: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("coin: interrupted; no partial outputs were kept.", file=sys.stderr)
        return 130
    except CoinError as err:
        print(f"coin: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
