"""CONTRACT DOUBLE of a newer ComfyUI (0.26+/0.28+) — not a real server.

Newer servers cannot be installed here, so this loopback look-alike serves exactly the shapes
/work/shared/COMFY_API.md §5 documents, and only for what 0.3.75 cannot show:

* ``GET /api/jobs`` (status filter, sort, limit/offset, ``pagination``) and ``GET /api/jobs/{id}``
  (404 ``{"error": "Job not found"}``), §5.1;
* ``POST /api/jobs/{id}/cancel`` and ``POST /api/jobs/cancel {"job_ids"}`` -> ``{"cancelled": bool}``
  (idempotent; a malformed id gives 400 with ``invalid_ids``), §5.1;
* ``POST /prompt`` refusing a non-canonical ``prompt_id`` with 400 ``invalid_prompt_id`` and
  recording ``extra_data`` (``preview_method``), §5.2;
* ``/system_stats`` listing every device, primary first, ``os`` = ``linux``, §5.3;
* ``/features`` and the websocket ``feature_flags`` reply with the 0.32.0 payload, §5.5;
* the websocket refusing a null or opaque ``Origin`` (0.28+) with 403.

Everything it was sent is recorded (``requests``, ``ws_origins``, ``prompts``) so tests can assert
what the client did. ``version``/``jobs_api``/``jobs_cancel`` let a test model the steps between
0.3.75 and the newest server (e.g. a jobs API without the cancel routes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FLAGS_0_32 = {
    "supports_preview_metadata": True,
    "supports_model_type_tags": True,
    "max_upload_size": 104857600,
    "extension": {"manager": {"supports_v4": True}},
    "node_replacements": True,
    "assets": False,
}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class FakeJob:
    id: str
    status: str  # pending | in_progress | completed | failed | cancelled
    priority: float
    create_time: int
    prompt: dict[str, Any] = field(default_factory=dict)
    extra_data: dict[str, Any] = field(default_factory=dict)
    start: int | None = None
    end: int | None = None

    def item(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "status": self.status, "priority": self.priority, "create_time": self.create_time,
            "execution_start_time": self.start, "execution_end_time": self.end,
            "outputs_count": 1 if self.status == "completed" else 0,
            "workflow_id": ((self.extra_data.get("extra_pnginfo") or {}).get("workflow") or {}).get("id"),
        }
        if self.status == "completed":
            out["preview_output"] = {"filename": f"{self.id[:8]}.png", "subfolder": "", "type": "output",
                                     "nodeId": "9", "mediaType": "images"}
        if self.status == "failed":
            out["execution_error"] = {"exception_message": "boom", "node_id": "3"}
        return {k: v for k, v in out.items() if v is not None}  # null keys are removed (§5.1)

    def detail(self) -> dict[str, Any]:
        out = self.item()
        out["outputs"] = {"9": {"images": [out["preview_output"]]}} if "preview_output" in out else {}
        out["execution_status"] = {"status_str": "success" if self.status == "completed" else "error",
                                   "completed": self.status == "completed", "messages": []}
        out["workflow"] = {"prompt": self.prompt, "extra_data": self.extra_data}
        return out


@dataclass
class NewerComfy:
    """State of the double; ``url`` is set once it listens."""

    version: str = "0.32.0"
    jobs_api: bool = True
    jobs_cancel: bool = True
    knows_cancelled: bool = True
    """False: an older jobs API (§5.1) whose statuses stop at ``failed`` (interrupted = failed)."""
    url: str = ""
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    list_queries: list[dict[str, str]] = field(default_factory=list)
    ws_origins: list[str | None] = field(default_factory=list)
    ws_received: list[Any] = field(default_factory=list)
    _clock: int = 1_800_000_000_000

    def add(self, status: str, *, job_id: str | None = None, **kw: Any) -> FakeJob:
        self._clock += 1000
        job = FakeJob(job_id or str(uuid.uuid4()), status, priority=len(self.jobs), create_time=self._clock, **kw)
        if status in ("completed", "failed", "cancelled"):
            job.start, job.end = self._clock + 10, self._clock + 10 + 100 * (len(self.jobs) + 1)
        self.jobs[job.id] = job
        return job

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, _h, body in self.requests if m == method and p == path]

    # -- HTTP routes (exact shapes of §5)

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path in ("/system_stats", "/api/system_stats"):
            return 200, {
                "system": {"os": "linux", "ram_total": 64 * 2**30, "ram_free": 32 * 2**30, "comfyui_version": self.version,
                           "required_frontend_version": "1.40.0", "python_version": "3.12.3", "pytorch_version": "2.9.0",
                           "embedded_python": False, "argv": ["main.py"], "comfy_package_versions": {},
                           "deploy_environment": "local"},
                "devices": [
                    {"name": "cuda:0 NVIDIA H200", "type": "cuda", "index": 0, "vram_total": 150 * 2**30,
                     "vram_free": 140 * 2**30, "torch_vram_total": 0, "torch_vram_free": 0},
                    {"name": "cuda:1 NVIDIA H200", "type": "cuda", "index": 1, "vram_total": 150 * 2**30,
                     "vram_free": 100 * 2**30, "torch_vram_total": 0, "torch_vram_free": 0},
                ],
            }
        if path in ("/features", "/api/features"):
            return 200, FLAGS_0_32
        if path in ("/prompt", "/api/prompt") and method == "POST":
            pid = body.get("prompt_id")
            if pid is not None and not (isinstance(pid, str) and CANONICAL_UUID.match(pid)):
                return 400, {"error": {"type": "invalid_prompt_id", "message": "prompt_id must be a UUID",
                                       "details": str(pid), "extra_info": {}}, "node_errors": {}}
            self.prompts.append(body)
            job = self.add("pending", job_id=pid or str(uuid.uuid4()), prompt=body.get("prompt") or {},
                           extra_data={**(body.get("extra_data") or {}), "client_id": body.get("client_id")})
            return 200, {"prompt_id": job.id, "number": job.priority, "node_errors": {}}
        if path in ("/queue", "/api/queue") and method == "GET":
            def row(j: FakeJob) -> list[Any]:
                return [j.priority, j.id, j.prompt, j.extra_data, []]
            return 200, {"queue_running": [row(j) for j in self.jobs.values() if j.status == "in_progress"],
                         "queue_pending": [row(j) for j in self.jobs.values() if j.status == "pending"]}
        if path in ("/queue", "/api/queue") and method == "POST":  # the classic routes stay (§1.4, §1.5)
            for job_id in (body or {}).get("delete") or []:
                if job_id in self.jobs and self.jobs[job_id].status == "pending":
                    del self.jobs[job_id]
            return 200, None
        if path in ("/interrupt", "/api/interrupt") and method == "POST":
            for job in self.jobs.values():
                if job.status == "in_progress" and (body or {}).get("prompt_id") in (None, job.id):
                    job.status = "cancelled"
            return 200, None
        if not self.jobs_api or not path.startswith("/api/jobs"):
            return 404, None
        if path == "/api/jobs" and method == "GET":
            return self._list(query)
        if path == "/api/jobs/cancel" and method == "POST" and self.jobs_cancel:
            ids = body.get("job_ids") if isinstance(body, dict) else None
            bad = [i for i in ids or [] if not (isinstance(i, str) and CANONICAL_UUID.match(i))]
            if not isinstance(ids, list) or bad:
                return 400, {"error": "invalid job ids", "invalid_ids": bad}
            return 200, {"cancelled": any([self._cancel(i) for i in ids])}
        match = re.fullmatch(r"/api/jobs/([^/]+)(/cancel)?", path)
        if match and method == "POST" and match.group(2) and self.jobs_cancel:
            return 200, {"cancelled": self._cancel(unquote(match.group(1)))}
        if match and method == "GET" and not match.group(2):
            job = self.jobs.get(unquote(match.group(1)))
            return (200, job.detail()) if job else (404, {"error": "Job not found"})
        return 404, None

    def _cancel(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.status not in ("pending", "in_progress"):
            return False  # idempotent: finished or unknown ids give 200 with false
        job.status = "cancelled"
        return True

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        q = {k: v[-1] for k, v in query.items()}
        self.list_queries.append(q)
        statuses = q["status"].split(",") if q.get("status") else None
        known = ("pending", "in_progress", "completed", "failed") + (("cancelled",) if self.knows_cancelled else ())
        if statuses and any(s not in known for s in statuses):
            return 400, {"error": f"bad status {q['status']}"}
        sort_by, order = q.get("sort_by", "created_at"), q.get("sort_order", "desc")
        if sort_by not in ("created_at", "execution_duration") or order not in ("asc", "desc"):
            return 400, {"error": "bad sort"}
        try:
            limit = int(q["limit"]) if "limit" in q else None
            offset = int(q.get("offset", 0))
        except ValueError:
            return 400, {"error": "bad paging"}
        jobs = [j for j in self.jobs.values() if (not statuses or j.status in statuses)
                and (not q.get("workflow_id") or j.item().get("workflow_id") == q["workflow_id"])]
        if sort_by == "created_at":
            jobs.sort(key=lambda j: j.create_time, reverse=order == "desc")
        else:
            jobs.sort(key=lambda j: (j.end or 0) - (j.start or 0), reverse=order == "desc")
        page = jobs[offset: offset + limit if limit is not None else None]
        return 200, {"jobs": [j.item() for j in page],
                     "pagination": {"offset": offset, "limit": limit, "total": len(jobs),
                                    "has_more": offset + len(page) < len(jobs)}}

    # -- the wire

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head.decode("latin-1").split("\r\n")
                method, target, _ = line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in rest if ":" in h)}
                raw = await reader.readexactly(int(headers.get("content-length", 0)))
                parts = urlsplit(target)
                if parts.path in ("/ws", "/api/ws") and headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(reader, writer, headers)
                    return
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                self.requests.append((method, parts.path, headers, body))
                status, payload = self.route(method, parts.path, parse_qs(parts.query), body)
                data = b"" if payload is None else json.dumps(payload).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    async def _websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
        origin = headers.get("origin")
        self.ws_origins.append(origin)
        host = headers.get("host", "").rsplit(":", 1)[0]
        if origin is not None and (origin == "null" or urlsplit(origin).hostname in (None, "") or urlsplit(origin).hostname != host):
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
        writer.write(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        send = self._send_text(writer)
        await send({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "double"}})
        while True:
            b0, b1 = await reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", await reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", await reader.readexactly(8))[0]
            mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(await reader.readexactly(length)))
            opcode = b0 & 0x0F
            if opcode == 8:
                writer.write(b"\x88\x02" + payload[:2])
                await writer.drain()
                return
            if opcode == 9:  # ping -> pong
                writer.write(bytes([0x8A, len(payload)]) + payload)
                await writer.drain()
            if opcode == 1:
                message = json.loads(payload)
                self.ws_received.append(message)
                if message.get("type") == "feature_flags" and len(self.ws_received) == 1:
                    await send({"type": "feature_flags", "data": FLAGS_0_32})

    @staticmethod
    def _send_text(writer: asyncio.StreamWriter):  # noqa: ANN205
        async def send(message: dict[str, Any]) -> None:
            data = json.dumps(message).encode()
            size = bytes([len(data)]) if len(data) < 126 else b"\x7e" + struct.pack(">H", len(data))
            writer.write(b"\x81" + size + data)
            await writer.drain()

        return send


@contextlib.asynccontextmanager
async def newer_comfy(**kwargs: Any) -> AsyncIterator[NewerComfy]:
    """Runs the contract double on 127.0.0.1 (an ephemeral port) on the test's event loop."""
    double = NewerComfy(**kwargs)
    server = await asyncio.start_server(double._handle, "127.0.0.1", 0)
    double.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield double
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
