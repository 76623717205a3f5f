"""``coin web``: the review page in a browser (trame-slicer; imports ``coin_web`` lazily).

The server binds 127.0.0.1 unless ``--host`` says otherwise, and reads / writes only inside
``--data-root``. Models come from ``--model`` and COINSegmentation's catalog (~/.coin/models).
The page's URL carries a random per-launch secret; websockets from other origins are refused
(coin_web/security.py; README "Security of the web page").
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from coin_core.errors import CoinError

EPILOG = """\
examples:
  coin web --data-root ~/ct --model ~/.coin/models/kidney   # then open the printed http://127.0.0.1:8080/?secret=...
  coin web --data-root /data --volume /data/case1.nii.gz --port 9000
  ssh -L 8080:127.0.0.1:8080 gpu-server  # review from a laptop without exposing the port
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``web`` sub-command."""
    p = subparsers.add_parser(
        "web",
        help="open the web review page (slice views, Generate counterfactual, edit, save)",
        description="Serve the COIN review page: open a CT from the data root, generate the "
        "counterfactual, tune the threshold, edit the lesion and save it as .seg.nrrd.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--volume", metavar="CT", help="CT to open at start (inside the data root)")
    p.add_argument("--model", metavar="M", help="model folder to list first and preselect")
    p.add_argument(
        "--port", type=int, default=8080, metavar="P", help="port (default 8080; 0 = any free port)"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="the only folder the page may read and write (default: the --volume's folder, else the "
        "current directory)",
    )
    p.add_argument("--device", default="auto", help="device for the model run: auto (default), cpu, cuda")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="also accept the page from this origin, e.g. http://127.0.0.1:9000 behind 'ssh -L 9000:...' "
        "(repeatable; default: only the address the server is bound to)",
    )
    p.set_defaults(func=run)


def _data_root(args: argparse.Namespace) -> Path:
    if args.data_root:
        root = Path(args.data_root).expanduser()
    elif args.volume:
        root = Path(args.volume).expanduser().resolve().parent
    else:
        root = Path.cwd()
    if not root.is_dir():
        raise CoinError(f"--data-root {root} is not a folder", "pass an existing folder")
    return root.resolve()


def run(args: argparse.Namespace) -> int:
    """Start the server and serve until interrupted."""
    if importlib.util.find_spec("trame_slicer") is None:
        raise CoinError(
            "the web page needs trame-slicer, which is not installed",
            "pip install -r requirements/web.txt  (or: pip install 'trame-slicer[standalone]')",
        )
    root = _data_root(args)
    if args.volume:
        volume = Path(args.volume).expanduser().resolve()
        if root != volume and root not in volume.parents:
            raise CoinError(f"--volume {volume} is outside the data root {root}", "pick a CT inside it")
    if not 0 <= args.port <= 65535:
        raise CoinError(f"--port {args.port} is not a port number", "pass 0 to 65535 (0: any free port)")
    from coin_web.launch import check_port_free, serve

    check_port_free(args.host, args.port)  # before the slow page set-up: one message, no traceback
    from coin_web.app import CoinWebApp, WebOptions

    app = CoinWebApp(WebOptions(root, volume=args.volume, model=args.model, device=args.device))

    def announce(url: str) -> None:
        print(
            f"coin web: serving {root}\n  open {url}\n"
            "  (the secret in the URL is new at every start; Ctrl-C to stop)",
            flush=True,
        )

    serve(app, args.host, args.port, announce, allow_origins=args.allow_origin)
    return 0
