"""A plain websocket client that speaks wslink (what trame's page speaks), for the security tests.

Messages are msgpack objects split into wslink chunks (``wslink.chunking``); the first call must be
``wslink.hello`` with the secret.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
import msgpack
from wslink.chunking import UnChunker, generate_chunks

CHUNK = 512  # wslink accepts at most 512-byte messages before the hello succeeded


def _unchunker() -> UnChunker:
    unchunker = UnChunker()
    unchunker.set_max_message_size(1 << 30)  # the server's replies (state, images) may be large
    return unchunker


@dataclass
class WslinkClient:
    """One websocket connection; ``call`` sends an RPC and returns its reply (result or error dict)."""

    ws: aiohttp.ClientWebSocketResponse
    unchunker: UnChunker = field(default_factory=lambda: _unchunker())
    counter: int = 0

    async def call(self, method: str, args: list | None = None, timeout: float = 10.0) -> dict:
        self.counter += 1
        rpc_id = f"system:c0:{self.counter}" if method == "wslink.hello" else f"rpc:c0:{self.counter}"
        message = msgpack.packb(
            {"wslink": "1.0", "id": rpc_id, "method": method, "args": args or [], "kwargs": {}}
        )
        for chunk in generate_chunks(message, CHUNK):
            await self.ws.send_bytes(chunk)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await self.ws.receive(timeout=max(left, 0.01))
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"websocket ended: {msg.type} {msg.data!r}")
            full = self.unchunker.process_chunk(msg.data)
            if full is None:
                continue
            if isinstance(full, dict) and full.get("id") == rpc_id:
                return full


async def open_ws(url: str, origin: str | None) -> tuple[aiohttp.ClientSession, WslinkClient]:
    """Open ``url`` (ws://...) with this ``Origin`` header (None: no header). Raises on a refused upgrade."""
    session = aiohttp.ClientSession()
    headers = {"Origin": origin} if origin is not None else {}
    try:
        ws = await session.ws_connect(url, headers=headers, autoping=True)
    except BaseException:
        await session.close()
        raise
    return session, WslinkClient(ws)
