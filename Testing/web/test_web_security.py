"""Who may drive the page: Origin check and per-launch secret against a real ``coin web`` process,
talked to with a plain websocket client (aiohttp + wslink's chunking), and the busy-port message."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (requirements/web.txt)")

from wslink_client import open_ws  # noqa: E402

from coin_web.security import OriginPolicy, new_secret, normalise_origin  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _handshake_status(url: str, origin: str | None) -> int:
    async def go() -> int:
        try:
            session, client = await open_ws(url, origin)
        except aiohttp.WSServerHandshakeError as err:
            return err.status
        await client.ws.close()
        await session.close()
        return 101

    return asyncio.run(go())


def _hello_then_state(url: str, origin: str, secret: str) -> tuple[dict, dict]:
    async def go() -> tuple[dict, dict]:
        session, client = await open_ws(url, origin)
        try:
            hello = await client.call("wslink.hello", [{"secret": secret}])
            state = await client.call("trame.state.get", [])
            return hello, state
        finally:
            await client.ws.close()
            await session.close()

    return asyncio.run(go())


@pytest.mark.slow
def test_only_this_pages_origin_with_the_printed_secret_can_drive_the_page(a_web_server):
    server = a_web_server
    ws = f"ws://127.0.0.1:{server.port}/ws"
    own = f"http://127.0.0.1:{server.port}"
    assert server.secret != "wslink-secret" and len(server.secret) >= 32

    # a page of another website (and a client that sends no Origin) cannot even open the websocket
    assert _handshake_status(ws, "http://evil.example") == 403
    assert _handshake_status(ws, f"http://127.0.0.1:{server.port + 1}") == 403
    assert _handshake_status(ws, None) == 403
    assert _handshake_status(ws, own) == 101
    assert _handshake_status(ws, f"http://localhost:{server.port}") == 101

    # the right origin without the secret (wslink's public default, or a guess) is refused, and so is
    # every further call on that connection
    for guess in ("wslink-secret", "", server.secret[:-1]):
        hello, state = _hello_then_state(ws, own, guess)
        assert hello["error"]["message"] == "Authentication failed", hello
        assert "Unauthorized" in state["error"]["message"] and "result" not in state

    hello, state = _hello_then_state(ws, own, server.secret)
    assert "error" not in hello and "error" not in state
    assert state["result"]["state"]["RunState__models"]  # the page's state, readable only now


def test_origin_policy_for_loopback_wildcard_and_extra_origins():
    loop = OriginPolicy("127.0.0.1")
    assert loop.allowed("http://127.0.0.1:8080", 8080, "127.0.0.1:8080")
    assert loop.allowed("http://LOCALHOST:8080", 8080, "localhost:8080")
    assert loop.allowed("http://[::1]:8080", 8080, None)
    assert not loop.allowed("http://127.0.0.1:8081", 8080, None)
    assert not loop.allowed("https://127.0.0.1:8080", 8080, None)
    # DNS rebinding: a foreign name pointed at 127.0.0.1 sends its own name as Origin and Host
    assert not loop.allowed("http://evil.example:8080", 8080, "evil.example:8080")
    assert not loop.allowed(None, 8080, None) and not loop.allowed("null", 8080, None)
    wide = OriginPolicy("0.0.0.0", ["http://127.0.0.1:9000"])
    assert wide.allowed("http://gpu-box:8080", 8080, "gpu-box:8080")
    assert not wide.allowed("http://evil.example", 8080, "gpu-box:8080")
    assert wide.allowed("http://127.0.0.1:9000", 8080, "127.0.0.1:9000")  # --allow-origin (ssh -L)
    assert normalise_origin("http://Host") == "http://host:80" and normalise_origin("ftp://x") == ""


def test_every_launch_draws_a_different_secret():
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(len(s) >= 40 for s in secrets)


def test_a_busy_port_is_one_message_not_a_traceback(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "coin_core", "web", "--data-root", str(tmp_path), "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 2, out.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr and "--port" in out.stderr
    assert "Traceback" not in out.stderr and "serving" not in out.stdout
