"""Who may drive the page: the websocket's ``Origin`` check and the per-launch secret.

A page on any other website, open in the same browser, can try to open a websocket to
``ws://127.0.0.1:8080/ws``. Two guards stop it from driving the review page:

- **Origin**: a browser always sends the page's origin with a websocket upgrade. The server
  refuses (HTTP 403, before any message is read) an upgrade whose ``Origin`` is not the address
  the page is served on: for a loopback bind ``http://127.0.0.1:PORT``, ``http://localhost:PORT``
  or ``http://[::1]:PORT``; for another bind the request's own ``Host``; plus every
  ``--allow-origin``. An upgrade without an ``Origin`` header (not a browser) is refused too.
- **Secret**: every launch draws a random secret (``secrets.token_urlsafe``); the page's URL that
  ``coin web`` prints carries it (``?secret=...``) and trame's client sends it in wslink's
  ``hello``. A client that does not know it is answered "Authentication failed" and every further
  call "Unauthorized". This also covers DNS rebinding (a foreign host name pointed at 127.0.0.1,
  which passes a same-host check) and other local users on a shared machine.

What is not guarded is listed in README.md ("Security of the web page").
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_secret() -> str:
    """A fresh random secret for one launch (about 190 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """True for 127.x.x.x, ::1 and localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_origin(origin: str) -> str:
    """``scheme://host:port`` in lower case with the default port made explicit; '' when malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    port = port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


class OriginPolicy:
    """Which ``Origin`` values may open the websocket of a server bound to ``host``."""

    def __init__(self, host: str, extra_origins: Iterable[str] = ()) -> None:
        self.loopback = is_loopback(host)
        self.extra = {normalise_origin(o) for o in extra_origins} - {""}

    def allowed(self, origin: str | None, port: int, request_host: str | None) -> bool:
        """Whether a websocket upgrade with this ``Origin`` (and ``Host`` header) is accepted."""
        if not origin:
            return False
        wanted = normalise_origin(origin)
        if not wanted:
            return False
        if wanted in self.extra:
            return True
        if self.loopback:
            return wanted in {f"http://{name}:{port}" for name in LOOPBACK_NAMES}
        return bool(request_host) and wanted == normalise_origin(f"http://{request_host}")


def origin_middleware(policy: OriginPolicy) -> Callable:
    """An aiohttp middleware that answers 403 to a websocket upgrade from a foreign origin."""
    from aiohttp import web

    @web.middleware
    async def check_origin(request: web.Request, handler: Callable[[web.Request], Awaitable]):  # noqa: ANN202
        if request.headers.get("Upgrade", "").lower() == "websocket":
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            port = int(sockname[1]) if sockname else 0
            if not policy.allowed(request.headers.get("Origin"), port, request.headers.get("Host")):
                return web.Response(
                    status=403,
                    text="coin web: websocket refused: its Origin is not this page's address\n",
                )
        return await handler(request)

    return check_origin
