"""Deterministic, recorded data for the dashboard's snapshot tests (tests/snapshots).

Everything a snapshot shows comes from here, so two runs draw the same picture:

- ``CLOSED_URL``: a loopback port nothing listens on; the app's real session and stream try it and
  fail with "connection refused", so nothing live reaches the screen.
- ``FrozenClock``: the session's clock and ``time.time`` during a test; replays move it to the
  recorded time of each message, so durations, rates and "elapsed" are those of the recording.
- ``replay``: the real websocket messages of ``tests/core/data/ws_capture_all.jsonl`` (ComfyUI
  0.3.75), decoded by the real ``core.comfy.protocol`` and folded into the real ``JobBook`` through
  the session, after tracking the job the way ``ComfySession.submit`` does before its POST.
- ``preview_png``: a fixed small image standing in for the preview frames, whose image bytes
  the capture did not keep (only their headers).
- ``OBJECT_INFO``: ``GET /object_info`` of the real CPU ComfyUI 0.3.75 (captured for the workflow tests).
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
from functools import cache
from pathlib import Path
from typing import Any

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.jobs import Job

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "core" / "data"
OBJECT_INFO = TESTS / "workflow" / "fixtures" / "object_info.json"

CLOSED_PORT = 9
"""The discard port: privileged (no test server can take it) and served by nothing on a normal host."""
CLOSED_URL = f"http://127.0.0.1:{CLOSED_PORT}"
CLIENT_ID = "comfytui-snapshots0"
"""A fixed dashboard clientId (own-client prefix, so the replayed jobs count as ours)."""

CAPTURE_EPOCH = 1795441199.457 - 0.516
"""Epoch seconds of ``t = 0`` of ws_capture_all.jsonl (its first execution_start minus its ``t``)."""


def port_is_closed(port: int = CLOSED_PORT) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


class FrozenClock:
    """A clock that moves only when told to: ``clock()`` -> epoch seconds."""

    def __init__(self, now: float = CAPTURE_EPOCH) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at_capture(self, t: float) -> None:
        self.now = CAPTURE_EPOCH + t


@cache
def records(name: str = "ws_capture_all.jsonl") -> tuple[dict[str, Any], ...]:
    with open(CAPTURES / name, encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


@cache
def preview_png() -> bytes:
    """A 48×32 PNG: a diagonal gradient with a light disc, the same bytes every run."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (48, 32))
    image.putdata([(40 + 4 * x, 30 + 5 * y, 160 - 2 * x) for y in range(32) for x in range(48)])
    ImageDraw.Draw(image).ellipse((16, 6, 36, 26), fill=(235, 210, 120))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def preview_frame() -> bytes:
    """A legacy PREVIEW_IMAGE frame (type 1, format 2 = PNG) carrying ``preview_png``."""
    return struct.pack(">II", protocol.BINARY_PREVIEW, 2) + preview_png()


def submitted(scenario: str) -> dict[str, Any]:
    """The recorded ``POST /prompt`` of a scenario: ``t``, ``prompt_id``, ``number``, ``prompt``."""
    for r in records():
        if r["kind"] == "note" and r.get("note") == "POST /prompt" and r.get("scenario") == scenario:
            if r.get("status") == 200:
                return {"t": r["t"], "prompt": r["request"]["prompt"], **r["response"]}
    raise LookupError(scenario)


def decoded(scenario: str, sock: str = "A") -> list[tuple[float, object]]:
    """``(t, event)`` of one socket in one scenario, decoded by the real protocol module.

    Binary preview frames get ``preview_frame()`` as their body (the capture kept only headers);
    progress-text frames are rebuilt exactly from the recorded bytes.
    """
    out: list[tuple[float, object]] = []
    for r in records():
        if r.get("scenario") != scenario or r.get("sock") != sock:
            continue
        if r["kind"] == "json":
            out.append((r["t"], protocol.decode_message(r["msg"])))
        elif r["kind"] == "binary" and r["event_type"] == protocol.BINARY_PREVIEW:
            out.append((r["t"], protocol.decode_binary(preview_frame())))
        elif r["kind"] == "binary" and r["event_type"] == protocol.BINARY_TEXT:
            head = bytes.fromhex(r["head_hex"])
            if len(head) == r["length"]:
                out.append((r["t"], protocol.decode_binary(head)))
    return out


async def replay(session: Any, clock: FrozenClock, scenario: str, label: str, *, progress_limit: int | None = None,
                 after_s: float = 0.0) -> str:
    """Track the scenario's job as ours (what ``ComfySession.submit`` records before its POST), then
    feed the session every recorded message of socket A, moving ``clock`` to each message's time.
    ``progress_limit``: stop at the first message reporting a step beyond it (a job left running).
    ``after_s``: leave the clock that long after the last message. Returns the prompt id."""
    post = submitted(scenario)
    clock.at_capture(post["t"])
    session.book.track(Job(post["prompt_id"], client_id=session.client_id, prompt=post["prompt"], label=label,
                           number=post["number"], created_at=clock()))
    session._emit(ev.QueueSnapshot((), ()), {post["prompt_id"]})
    last_t = post["t"]
    for t, event in decoded(scenario):
        if progress_limit is not None and _step_of(event) > progress_limit:
            break
        clock.at_capture(t)
        last_t = t
        await session._handle(event)
    clock.at_capture(last_t + after_s)
    return post["prompt_id"]


def _step_of(event: object) -> float:
    if isinstance(event, ev.Progress):
        return event.value
    if isinstance(event, ev.ProgressState):
        return max((n.value for n in event.nodes.values() if n.state == "running"), default=0)
    return 0


async def replay_logs(session: Any) -> None:
    """The two ComfyUI log messages recorded on the log-subscribed socket."""
    for r in records("ws_reconnect_logs.jsonl"):
        if r["kind"] == "json" and r["msg"].get("type") == "logs":
            await session._handle(protocol.decode_message(r["msg"]))


def seed_object_info_cache(url: str, clock: FrozenClock) -> Path:
    """Put the recorded ``/object_info`` where ``ObjectInfoCache`` keeps it on disk for ``url``,
    fresh at ``clock``'s time (the form reads it there: the server is unreachable)."""
    from comfytui.core.workflows.prompts import DEFAULT_CACHE

    file = DEFAULT_CACHE._file(url)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(OBJECT_INFO.read_bytes())
    os.utime(file, (clock(), clock()))
    return file


def write_models(root: Path, mtime: float) -> None:
    """A small models folder: real safetensors headers (tests/models/safetensors_files.py)."""
    import sys

    models_tests = str(TESTS / "models")
    if models_tests not in sys.path:
        sys.path.insert(0, models_tests)
    from safetensors_files import CHECKPOINT, LORA, VAE, safetensors_bytes

    files = {
        root / "checkpoints" / "tiny-sd15.safetensors": safetensors_bytes(CHECKPOINT, {"modelspec.title": "Tiny SD 1.5"}),
        root / "checkpoints" / "vae-in-wrong-place.safetensors": safetensors_bytes(VAE),
        root / "loras" / "style-ink.safetensors": safetensors_bytes(LORA, {"ss_network_dim": "4"}),
        root / "vae" / "tiny-vae.safetensors": safetensors_bytes(VAE),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
