"""A loopback HTTP gateway that wants a bearer token, in front of a real ComfyUI.

A connection whose first request lacks ``Authorization: Bearer TOKEN`` gets 401 and is closed
(its request line is recorded in ``refused``); every other connection is piped both ways to the
upstream port, plain HTTP and the websocket upgrade alike. It runs on the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

TOKEN = "gw-SECRET-token"


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction of a proxied connection until it closes."""
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


@contextlib.asynccontextmanager
async def bearer_gateway(upstream_port: int, token: str = TOKEN) -> AsyncIterator[tuple[str, list[str]]]:
    """Yields ``(gateway_url, refused)``."""
    refused: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        if f"authorization: bearer {token}".lower().encode() not in head.lower():
            refused.append(head.split(b"\r\n", 1)[0].decode())
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            with contextlib.suppress(OSError):
                await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        up_writer.write(head)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", refused
    finally:
        server.close()
