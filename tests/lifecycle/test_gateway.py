"""Startup behind a gateway that wants a bearer token: the readiness probes (HTTP and websocket)
carry the ``[server]`` credentials, as ``comfytui up`` and the Server screen rely on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comfytui.core.config import ProcessSettings, ServerSettings
from comfytui.core.lifecycle import Phase, ProcessBackend, StartupFailed, startup
from harness.podman import free_port

TOKEN = "gw-SECRET-token"


@contextlib.asynccontextmanager
async def bearer_gateway(upstream_port: int) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback reverse proxy: a connection whose first request lacks the token gets 401; others
    are piped both ways to ComfyUI (plain HTTP and the websocket upgrade alike)."""
    refused: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        if f"authorization: bearer {TOKEN}".lower().encode() not in head.lower():
            refused.append(head.split(b"\r\n", 1)[0].decode())
            writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
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


@pytest.mark.comfy
async def test_startup_behind_a_bearer_gateway_reaches_websocket_connected(
    comfy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", TOKEN)
    empty = tmp_path / "frontend-empty"
    empty.mkdir()
    port = free_port()
    settings = ProcessSettings(
        comfyui_dir=comfy["tree"], python=comfy["python"], port=port, base_directory=str(tmp_path / "base"),
        args=["--cpu", "--front-end-root", str(empty), "--database-url", "sqlite:///:memory:"],
        env={"HOME": str(tmp_path)}, stop_timeout_s=10,
    )
    backend = ProcessBackend(settings, state_dir=tmp_path / "state")
    try:
        async with bearer_gateway(port) as (gateway_url, refused):
            server = ServerSettings(url=gateway_url, auth="bearer", token_env="GATEWAY_TOKEN")
            events = [e async for e in startup(backend, url=gateway_url, server=server, timeout_s=120)]
            assert [e.phase for e in events if e.changed][-2:] == [Phase.HTTP_READY, Phase.WS_CONNECTED]
            assert refused == [], "every probe carried the token"
            # Without the credentials the same gateway keeps the start from ever being ready.
            with pytest.raises(StartupFailed, match="did not answer"):
                async for _ in startup(backend, url=gateway_url, server=ServerSettings(url=gateway_url), timeout_s=3):
                    pass
            assert refused and all("/system_stats" in line for line in refused)
    finally:
        await backend.stop()
        await backend.close()
