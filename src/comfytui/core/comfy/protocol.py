"""Pure decoders: websocket frames and HTTP payloads -> core events (COMFY_API.md §1.3, §1.7, §2).

No I/O here, so the parser can be replayed against recorded captures and benchmarked.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from comfytui.core.comfy import events as ev

BINARY_PREVIEW = 1
BINARY_TEXT = 3
BINARY_PREVIEW_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _node_progress(node_id: str, raw: dict[str, Any]) -> ev.NodeProgress:
    return ev.NodeProgress(
        node_id=str(raw.get("node_id", node_id)),
        value=float(raw.get("value", 0)),
        max=float(raw.get("max", 1) or 1),
        state=str(raw.get("state", "running")),
        display_node_id=_str_or_none(raw.get("display_node_id")),
        parent_node_id=_str_or_none(raw.get("parent_node_id")),
        real_node_id=_str_or_none(raw.get("real_node_id")),
    )


def decode_message(message: dict[str, Any]) -> ev.ServerEvent:
    """Turn one JSON websocket message ``{"type", "data"}`` into an event. Unknown types are kept."""
    kind = message.get("type")
    data = message.get("data") or {}
    if not isinstance(data, dict):
        return ev.UnknownMessage(str(kind), data)
    match kind:
        case "status":
            exec_info = (data.get("status") or {}).get("exec_info") or {}
            return ev.Status(int(exec_info.get("queue_remaining", 0)), data.get("sid"))
        case "executing":
            return ev.Executing(
                _str_or_none(data.get("prompt_id")), _str_or_none(data.get("node")), _str_or_none(data.get("display_node"))
            )
        case "progress":
            return ev.Progress(
                _str_or_none(data.get("prompt_id")),
                _str_or_none(data.get("node")),
                int(data.get("value", 0)),
                int(data.get("max", 0)),
            )
        case "progress_state":
            nodes = data.get("nodes") or {}
            return ev.ProgressState(
                str(data.get("prompt_id")), {str(k): _node_progress(str(k), v) for k, v in nodes.items()}
            )
        case "executed":
            return ev.Executed(
                str(data.get("prompt_id")),
                str(data.get("node")),
                _str_or_none(data.get("display_node")),
                data.get("output"),
            )
        case "execution_start":
            return ev.ExecutionStart(str(data.get("prompt_id")), data.get("timestamp"))
        case "execution_cached":
            return ev.ExecutionCached(str(data.get("prompt_id")), tuple(str(n) for n in data.get("nodes") or ()))
        case "execution_success":
            return ev.ExecutionSuccess(str(data.get("prompt_id")), data.get("timestamp"))
        case "execution_error":
            return execution_error(data)
        case "execution_interrupted":
            return ev.ExecutionInterrupted(
                str(data.get("prompt_id")),
                _str_or_none(data.get("node_id")),
                _str_or_none(data.get("node_type")),
                tuple(str(n) for n in data.get("executed") or ()),
                data.get("timestamp"),
            )
        case "logs":
            return ev.LogEntries(log_entries(data.get("entries")))
        case "feature_flags":
            return ev.FeatureFlags(dict(data))
        case _:
            return ev.UnknownMessage(str(kind), data)


def execution_error(data: dict[str, Any]) -> ev.ExecutionError:
    traceback = data.get("traceback") or ()
    if isinstance(traceback, str):
        traceback = (traceback,)
    return ev.ExecutionError(
        prompt_id=str(data.get("prompt_id")),
        node_id=_str_or_none(data.get("node_id")),
        node_type=_str_or_none(data.get("node_type")),
        exception_type=str(data.get("exception_type") or "Exception"),
        exception_message=str(data.get("exception_message") or "").rstrip("\n"),
        traceback=tuple(str(t) for t in traceback),
        executed=tuple(str(n) for n in data.get("executed") or ()),
        timestamp=data.get("timestamp"),
    )


def log_entries(raw: Any) -> tuple[ev.LogEntry, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(ev.LogEntry(str(e.get("t", "")), str(e.get("m", ""))) for e in raw if isinstance(e, dict))


def decode_text(frame: str) -> ev.ServerEvent:
    try:
        message = json.loads(frame)
    except json.JSONDecodeError:
        return ev.UnknownMessage("invalid-json", frame[:200])
    if not isinstance(message, dict):
        return ev.UnknownMessage("invalid-json", message)
    try:
        return decode_message(message)
    except (TypeError, ValueError, AttributeError):
        # A known type with an unexpected shape (a custom node, a newer server): kept, never fatal.
        return ev.UnknownMessage(f"malformed-{message.get('type')}", message.get("data"))


def decode_binary(frame: bytes) -> ev.ServerEvent:
    """Binary frames: u32 BE event type, then a type-specific layout (COMFY_API.md §2.5)."""
    if len(frame) < 8:
        return ev.UnknownMessage("binary-short", len(frame))
    (event_type,) = struct.unpack_from(">I", frame, 0)
    if event_type == BINARY_PREVIEW:
        (fmt,) = struct.unpack_from(">I", frame, 4)
        return ev.PreviewImage(bytes(frame[8:]), _IMAGE_FORMATS.get(fmt, "application/octet-stream"))
    if event_type == BINARY_TEXT:
        (n,) = struct.unpack_from(">I", frame, 4)
        node_id = bytes(frame[8 : 8 + n]).decode("utf-8", "replace")
        return ev.ProgressText(node_id, bytes(frame[8 + n :]).decode("utf-8", "replace"))
    if event_type == BINARY_PREVIEW_WITH_METADATA:
        (m,) = struct.unpack_from(">I", frame, 4)
        try:
            meta = json.loads(bytes(frame[8 : 8 + m]))
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        return ev.PreviewImage(
            bytes(frame[8 + m :]),
            str(meta.get("image_type") or "image/png"),
            _str_or_none(meta.get("prompt_id")),
            _str_or_none(meta.get("node_id")),
            _str_or_none(meta.get("display_node_id")),
        )
    return ev.UnknownMessage(f"binary-{event_type}", len(frame))


# HTTP payloads


def queue_item(raw: list[Any]) -> ev.QueueItem:
    number, prompt_id, prompt, extra, outputs = (list(raw) + [None] * 5)[:5]
    return ev.QueueItem(
        number=float(number or 0),
        prompt_id=str(prompt_id),
        prompt=prompt if isinstance(prompt, dict) else {},
        extra_data=extra if isinstance(extra, dict) else {},
        outputs=tuple(str(o) for o in outputs or ()),
    )


def queue_snapshot(payload: dict[str, Any]) -> ev.QueueSnapshot:
    running = tuple(queue_item(i) for i in payload.get("queue_running") or ())
    # The pending list is a raw heap snapshot: sort by number (then id) for run order.
    pending = sorted((queue_item(i) for i in payload.get("queue_pending") or ()), key=lambda q: (q.number, q.prompt_id))
    return ev.QueueSnapshot(running, tuple(pending))


def output_files(outputs: dict[str, Any]) -> tuple[ev.OutputFile, ...]:
    files: list[ev.OutputFile] = []
    for node_id, ui in (outputs or {}).items():
        if not isinstance(ui, dict):
            continue
        for kind, items in ui.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and "filename" in item:
                    files.append(
                        ev.OutputFile(
                            str(item["filename"]),
                            str(item.get("subfolder") or ""),
                            str(item.get("type") or "output"),
                            str(node_id),
                            kind,
                        )
                    )
    return tuple(files)


def history_entry(prompt_id: str, raw: dict[str, Any]) -> ev.HistoryEntry:
    item = queue_item(raw.get("prompt") or [0, prompt_id, {}, {}, []])
    status = raw.get("status") or {}
    messages = status.get("messages") or []
    started = ended = None
    error: ev.ExecutionError | None = None
    last_kind = ""
    for message in messages:
        if not isinstance(message, list | tuple) or len(message) != 2:
            continue
        kind, data = message
        data = data if isinstance(data, dict) else {}
        if kind == "execution_start":
            started = data.get("timestamp")
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            ended = data.get("timestamp")
            last_kind = kind
            if kind == "execution_error":
                error = execution_error({**data, "prompt_id": prompt_id})
    status_str = status.get("status_str") or ("success" if status.get("completed") else "error")
    if status_str == "error" and last_kind == "execution_interrupted":
        status_str = "interrupted"
    outputs = raw.get("outputs") or {}
    return ev.HistoryEntry(
        prompt_id=prompt_id,
        number=item.number,
        prompt=item.prompt,
        extra_data=item.extra_data,
        status=status_str,
        outputs=output_files(outputs),
        started_ms=started,
        ended_ms=ended,
        error=error,
        raw_outputs=outputs,
    )
