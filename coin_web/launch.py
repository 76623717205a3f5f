"""Start the review page's server: the port check, the guards of ``security.py``, the page's URL."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable

from coin_core.errors import CoinError

from .security import OriginPolicy, is_loopback, new_secret, origin_middleware

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def port_in_use_error(host: str, port: int, err: OSError | None = None) -> CoinError:
    """The one message for a port that cannot be bound."""
    why = "is already in use" if err is None or err.errno == errno.EADDRINUSE else f"cannot be used ({err})"
    return CoinError(
        f"port {port} on {host or 'all addresses'} {why} (another 'coin web' or another server?)",
        "stop the program that holds it, or pick another port with --port N (--port 0: any free port)",
    )


def check_port_free(host: str, port: int) -> None:
    """Raise ``CoinError`` when ``host:port`` cannot be bound (checked before the slow page set-up).

    Binds the way aiohttp does (``SO_REUSEADDR``), so a port in TIME_WAIT counts as free.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise CoinError(
            f"--host {host}: {err.strerror}", "pass an address of this machine, e.g. 127.0.0.1"
        ) from err
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            raise port_in_use_error(host, port, err) from err


def page_url(host: str, port: int, secret: str) -> str:
    """The address to open, secret included (a wildcard bind shows this machine's name)."""
    shown = socket.gethostname() if host in WILDCARD_HOSTS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?secret={secret}"


def serve(
    app,  # noqa: ANN001  (CoinWebApp; typed loosely so this module imports without trame)
    host: str,
    port: int,
    announce: Callable[[str], None],
    allow_origins: Iterable[str] = (),
    secret: str | None = None,
) -> None:
    """Serve ``app`` until interrupted; ``announce(url)`` once the port is bound.

    Raises:
        CoinError: the port cannot be bound.
    """
    secret = secret or new_secret()
    policy = OriginPolicy(host, allow_origins)
    server = app.server
    # trame reads the wslink secret from its command-line parser; our own default replaces wslink's
    # public "wslink-secret" (coin's own arguments never include --authKey)
    server.cli.set_defaults(authKey=secret, authKeyFile=None)
    server.controller.on_server_bind.add(
        lambda ws_server: ws_server.app.middlewares.append(origin_middleware(policy))
    )
    server.controller.on_server_ready.add(lambda **_: announce(page_url(host, server.port, secret)))
    try:
        server.start(host=host, port=port, open_browser=False, show_connection_info=False)
    except OSError as err:
        raise port_in_use_error(host, port, err) from err


__all__ = ["check_port_free", "is_loopback", "page_url", "serve"]
