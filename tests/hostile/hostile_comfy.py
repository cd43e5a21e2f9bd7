"""HostileComfy: a ComfyUI look-alike on loopback that lies — a test double for fault injection only.

It stands in front of a *real* ComfyUI and relays HTTP and the websocket both ways, so jobs really
run and finish; on top it injects what no real server produces:

* ``frames``: mid-job (after the first upstream ``progress``), a burst of malformed websocket
  frames of every kind — Infinity/NaN numbers, JSON nested 100 000 deep, wrong field types, unknown
  and missing types, non-JSON text, binary garbage and lying length fields, and server text full
  of terminal escapes (ESC c full reset, OSC title, 8-bit CSI).
* ``oversized``: then one frame over the client's 64 MiB cap (declared length; its payload is not
  sent), which makes the client drop the socket and reconnect.
* ``http``: the first ``/queue`` answers 500, the next stalls 2 s, one ``/history/{id}`` body is
  truncated, one ``/queue`` redirects to another origin (a listener there records what reaches it).

Stdlib asyncio plus httpx (already a dependency) and a hand-written websocket framing, so every
byte on the wire is ours to corrupt. Runs on its own event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import struct
import threading
from dataclasses import dataclass, field

import httpx
import websockets
from websockets.asyncio.client import connect

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def malformed_frames(prompt_id: str) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every malformed frame ``frames`` injects, for the running ``prompt_id``."""
    pid = json.dumps(prompt_id)
    texts = [
        f'{{"type": "progress", "data": {{"value": Infinity, "max": 10, "prompt_id": {pid}, "node": "1"}}}}',
        f'{{"type": "progress", "data": {{"value": NaN, "max": -Infinity, "prompt_id": {pid}, "node": "1"}}}}',
        f'{{"type": "progress", "data": {{"value": 1e400, "max": 99999999999999999999999999, "prompt_id": {pid}}}}}',
        '{"type": "executed", "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": "many"}}}}',
        '{"type": "executing", "data": [1, 2, 3]}',
        f'{{"type": "progress_state", "data": {{"prompt_id": {pid}, "nodes": {{"1": "running"}}}}}}',
        f'{{"type": "execution_cached", "data": {{"prompt_id": {pid}, "nodes": 7}}}}',
        f'{{"type": "execution_start", "data": {{"prompt_id": {pid}, "timestamp": "yesterday"}}}}',
        '{"type": "execution_success", "data": {"prompt_id": {"not": "an id"}, "timestamp": 1}}',
        f'{{"type": "executed", "data": {{"prompt_id": {pid}, "node": "1", "output": "not an object"}}}}',
        '{"type": "crystools.monitor", "data": {"cpu_utilization": 12.5}}',
        '{"data": {"no": "type"}}',
        '{"type": "logs", "data": {"entries": [{"t": "now", "m": "\\u001bc\\u001b]0;pwned\\u0007\\u009b2Jlog line\\n"}]}}',
        "{{{ not json",
        "null",
        '"a string"',
        "",
    ]
    frames = [(TEXT, t.encode()) for t in texts]
    frames += [
        (BINARY, b"\xff\xfe"),
        (BINARY, struct.pack(">II", 3, 4_000_000) + b"short"),
        (BINARY, struct.pack(">II", 4, 999) + b"{}"),
        (BINARY, struct.pack(">II", 3, 1) + b"1" + b"\x1bc\x1b]2;title\x07step text"),
        (BINARY, os.urandom(64)),
        (BINARY, struct.pack(">I", 77) + os.urandom(16)),
    ]
    return frames


def _frame(opcode: int, payload: bytes, declared: int | None = None) -> bytes:
    """A server frame (unmasked, FIN set); ``declared`` lies about the length."""
    length = len(payload) if declared is None else declared
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([length])
    elif length < 2**16:
        head += bytes([126]) + struct.pack(">H", length)
    else:
        head += bytes([127]) + struct.pack(">Q", length)
    return head + payload


async def _read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(length)
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


@dataclass
class HostileComfy:
    upstream: str
    faults: frozenset[str] = frozenset({"frames", "http"})
    injected_frames: int = 0
    oversized_sent: int = 0
    websocket_sessions: int = 0
    http_faults: list[str] = field(default_factory=list)
    elsewhere_requests: list[dict[str, str]] = field(default_factory=list)
    """Requests that reached the other origin a redirect pointed at (must stay empty)."""
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _ws_lock: asyncio.Lock | None = None
    _queue_hits: int = 0
    _history_truncated: bool = False
    _injected_for: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle

    def start(self) -> HostileComfy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="hostile-comfy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the hostile server did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._open())
        ready.set()
        self._loop.run_forever()

    async def _open(self) -> None:
        self._ws_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(base_url=self.upstream, timeout=60)
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=2**20)
        self.port = self._server.sockets[0].getsockname()[1]
        self._elsewhere = await asyncio.start_server(self._other_origin, "127.0.0.1", 0)
        self.elsewhere_port = self._elsewhere.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return

        async def close() -> None:
            self._server.close()
            self._elsewhere.close()
            await self._http.aclose()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HostileComfy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP

    async def _other_origin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            self.elsewhere_requests.append({"head": head.decode("latin-1")})
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            await writer.drain()
        writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                if headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(target, headers, reader, writer)
                    return
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if not await self._http_exchange(method, target, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _http_exchange(self, method: str, target: str, headers: dict[str, str], body: bytes,
                             writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close."""
        path = target.split("?", 1)[0]
        if "http" in self.faults and method == "GET" and path == "/queue":
            self._queue_hits += 1
            if self._queue_hits == 1:
                self.http_faults.append("500")
                self._send(writer, 500, b"Internal Server Error: \x1b]0;owned\x07 upstream exploded", "text/plain")
                return True
            if self._queue_hits == 2:
                self.http_faults.append("stall")
                await asyncio.sleep(2.0)
            if self._queue_hits == 3:
                self.http_faults.append("redirect")
                location = f"http://127.0.0.1:{self.elsewhere_port}/queue"
                writer.write(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                return True
        forwarded = {k: v for k, v in headers.items() if k in ("content-type", "accept", "authorization", "x-api-key")}
        upstream = await self._http.request(method, target, content=body, headers=forwarded)
        content = upstream.content
        if ("http" in self.faults and path.startswith("/history/") and not self._history_truncated
                and len(content) > 20):
            self._history_truncated = True
            self.http_faults.append("truncated")
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n".encode()
                + content[: len(content) // 2]
            )
            await writer.drain()
            return False
        self._send(writer, upstream.status_code, content, upstream.headers.get("content-type", "application/json"))
        await writer.drain()
        return True

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str) -> None:
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )

    # -- websocket

    async def _websocket(self, target: str, headers: dict[str, str], reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
        writer.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        await writer.drain()
        assert self._ws_lock is not None
        # One upstream socket per client id at a time: ComfyUI orphans a second one (COMFY_API §2.2).
        async with self._ws_lock:
            self.websocket_sessions += 1
            up_url = self.upstream.replace("http", "ws", 1) + target
            async with connect(up_url, max_size=None) as upstream:
                relays = {
                    asyncio.create_task(self._upstream(upstream, writer)),
                    asyncio.create_task(self._downstream(reader, writer, upstream)),
                }
                # Either side ending ends both: the upstream socket must close before the client's
                # next one opens with the same id.
                await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
                for task in relays:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    async def _upstream(self, upstream, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, websockets.exceptions.ConnectionClosed):
            async for message in upstream:
                if isinstance(message, str):
                    writer.write(_frame(TEXT, message.encode()))
                    await writer.drain()
                    await self._maybe_inject(message, writer)
                else:
                    writer.write(_frame(BINARY, message))
                    await writer.drain()

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream) -> None:
        while True:
            opcode, data = await _read_client_frame(reader)
            if opcode == TEXT:
                await upstream.send(data.decode())
            elif opcode == PING:
                writer.write(_frame(PONG, data))
                await writer.drain()
            elif opcode == CLOSE:
                with contextlib.suppress(Exception):
                    writer.write(_frame(CLOSE, data[:2]))
                    await writer.drain()
                return

    async def _maybe_inject(self, message: str, writer: asyncio.StreamWriter) -> None:
        try:
            parsed = json.loads(message)
        except ValueError:
            return
        if parsed.get("type") != "progress":
            return
        pid = (parsed.get("data") or {}).get("prompt_id")
        if not pid or pid in self._injected_for:
            return
        self._injected_for.add(pid)
        if "frames" in self.faults:
            for opcode, payload in malformed_frames(pid):
                writer.write(_frame(opcode, payload))
                self.injected_frames += 1
            await writer.drain()
        if "oversized" in self.faults:
            # Only the header: the client must refuse it from the declared length alone.
            writer.write(_frame(BINARY, b"\0" * 16, declared=65 * 1024**2))
            self.oversized_sent += 1
            await writer.drain()
