"""Pure decoders: websocket frames and HTTP payloads -> core events (COMFY_API.md §1.3, §1.7, §2).

No I/O here, so the parser can be replayed against recorded captures and benchmarked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import struct
from collections.abc import Callable
from typing import Any

from comfytui.core.comfy import events as ev
from comfytui.core.errors import ServerError
from comfytui.core.logs import sanitize, strip_controls

log = logging.getLogger(__name__)

BINARY_PREVIEW = 1
BINARY_TEXT = 3
BINARY_PREVIEW_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}
MAX_TEXT_CHARS = 64 * 1024
"""One server-provided string (an exception message, a traceback line, a log entry) is cut here."""
MAX_ID_CHARS = 256
MAX_COUNT = 2**53
"""Counts, steps and queue numbers above this are not ComfyUI's (and lose precision as floats)."""
MAX_TIMESTAMP_MS = 10**15
HEAD_CHARS = 120

OnMalformed = Callable[[ev.Malformed], None]


class BadValue(ValueError):
    """A field of a server message is out of range or of the wrong type."""


def head_of(raw: Any) -> str:
    """The first bytes of a bad input, control characters escaped, for the log and the UI."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return repr(bytes(raw[:HEAD_CHARS]))
    if isinstance(raw, str):
        return repr(raw[:HEAD_CHARS])
    try:
        return repr(raw)[:HEAD_CHARS]
    except Exception:  # a pathological object (deep nesting) must not break the report
        return f"<{type(raw).__name__}>"


def malformed(kind: str, exc: BaseException | str, raw: Any) -> ev.Malformed:
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return ev.Malformed(kind, strip_controls(reason)[:300], head_of(raw))


def _log_malformed(bad: ev.Malformed) -> None:
    log.warning("skipped a malformed %s (%s): %s", bad.kind, bad.reason, bad.head)


# -- validated values: every number and string from the server passes through one of these


def _text(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """Server text made terminal-safe (no escapes, no C0/C1 controls but \\n and \\t) and bounded."""
    if type(value) is str and len(value) <= limit and value.isprintable():
        return value  # the common case: nothing to cut or strip
    if not isinstance(value, str):
        if isinstance(value, dict | list | tuple):
            raise BadValue(f"expected text, got a {type(value).__name__}")
        value = str(value)
    return strip_controls(value[:limit])


def _id(value: Any) -> str:
    # Fast path first: ids (prompt and node ids) are in nearly every message (bench/ingest.py).
    if type(value) is str and len(value) <= MAX_ID_CHARS and value.isprintable():
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadValue(f"expected an id, got {head_of(value)}")
    return _text(value, MAX_ID_CHARS)


def _id_or_none(value: Any) -> str | None:
    if type(value) is str and len(value) <= MAX_ID_CHARS and value.isprintable():
        return value
    return None if value is None else _id(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


_FINITE_NUMBER = (int, float)


def number(value: Any, name: str, lo: float = 0.0, hi: float = float(MAX_COUNT)) -> float:
    """A finite number in ``[lo, hi]``, else ``BadValue`` naming the field."""
    # ``type(...) in`` excludes bool; NaN and the infinities fail the (finite) range test
    if type(value) in _FINITE_NUMBER and lo <= value <= hi:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not lo <= value <= hi:
        raise BadValue(f"{name}: {head_of(value)} is not a number in [{lo:g}, {hi:g}]")
    return float(value)


def integer(value: Any, name: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
    if type(value) is int and lo <= value <= hi:
        return value
    as_float = number(value, name, lo, hi)
    if not as_float.is_integer():
        raise BadValue(f"{name}: {value!r} is not an integer")
    return int(as_float)


def timestamp_ms(value: Any) -> float | None:
    """A server timestamp (ms since the epoch); anything else reads as unknown (the reducer uses its clock)."""
    try:
        return number(value, "timestamp", 0, MAX_TIMESTAMP_MS) if value is not None else None
    except BadValue:
        return None


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise BadValue(f"expected a list of node ids, got {head_of(value)}")
    return tuple(_id(n) for n in value)


def _dict(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadValue(f"{name}: expected an object, got {head_of(value)}")
    return value


def _node_progress(node_id: str, raw: Any) -> ev.NodeProgress:
    if type(raw) is not dict:
        raw = _dict(raw, f"nodes.{node_id}")
    get = raw.get
    value = get("value", 0)
    maximum = get("max", 1) or 1
    state = get("state", "running")
    return _new_node_progress(
        _id(get("node_id", node_id)),
        # the usual floats in range pass the type and range test inline
        float(value) if type(value) is float and 0.0 <= value <= _MAX_COUNT_F else number(value, "value"),
        float(maximum) if type(maximum) is float and 0.0 <= maximum <= _MAX_COUNT_F else number(maximum, "max"),
        state if state == "running" or state == "finished" else _text(state, MAX_ID_CHARS),
        _id_or_none(get("display_node_id")),
        _id_or_none(get("parent_node_id")),
        _id_or_none(get("real_node_id")),
    )


_MAX_COUNT_F = float(MAX_COUNT)


def _fast_constructor(cls: type) -> Callable[..., Any]:
    """Positional constructor of a frozen slots dataclass that writes each slot through its
    descriptor: the generated frozen ``__init__`` goes through ``object.__setattr__`` by name for
    every field, which showed in the per-node cost of ``progress_state`` (bench/ingest.py)."""
    names = [f.name for f in dataclasses.fields(cls)]
    body = "\n".join(f"    _set_{i}(new, {name})" for i, name in enumerate(names))
    source = f"def new_{cls.__name__}({', '.join(names)}):\n    new = _new(cls)\n{body}\n    return new\n"
    namespace: dict[str, Any] = {"_new": object.__new__, "cls": cls}
    namespace.update({f"_set_{i}": getattr(cls, name).__set__ for i, name in enumerate(names)})
    exec(source, namespace)  # noqa: S102 - our own field names, generated at import
    return namespace[f"new_{cls.__name__}"]


_new_node_progress = _fast_constructor(ev.NodeProgress)


# One decoder per known message type, looked up by type: a ``match`` on the type string compared
# it with each case in turn, on every message.


def _status(data: dict[str, Any]) -> ev.Status:
    exec_info = _dict(_dict(data.get("status"), "status").get("exec_info"), "exec_info")
    return ev.Status(integer(exec_info.get("queue_remaining", 0), "queue_remaining"), _id_or_none(data.get("sid")))


def _executing(data: dict[str, Any]) -> ev.Executing:
    return ev.Executing(_id_or_none(data.get("prompt_id")), _id_or_none(data.get("node")), _id_or_none(data.get("display_node")))


def _progress(data: dict[str, Any]) -> ev.Progress:
    value = integer(data.get("value", 0), "value")
    maximum = integer(data.get("max", 0), "max")
    return ev.Progress(_id_or_none(data.get("prompt_id")), _id_or_none(data.get("node")), value, maximum)


def _progress_state(data: dict[str, Any]) -> ev.ProgressState:
    nodes = _dict(data.get("nodes"), "nodes")
    prompt_id = _id(data.get("prompt_id"))
    decoded = {}
    for key, raw in nodes.items():
        node_id = _id(key)
        decoded[node_id] = _node_progress(node_id, raw)
    return ev.ProgressState(prompt_id, decoded)


def _executed(data: dict[str, Any]) -> ev.Executed:
    output = data.get("output")
    if output is not None and not isinstance(output, dict):
        raise BadValue(f"output: expected an object, got {head_of(output)}")
    return ev.Executed(_id(data.get("prompt_id")), _id(data.get("node")), _id_or_none(data.get("display_node")), output)


def _execution_interrupted(data: dict[str, Any]) -> ev.ExecutionInterrupted:
    return ev.ExecutionInterrupted(
        _id(data.get("prompt_id")),
        _id_or_none(data.get("node_id")),
        _text_or_none(data.get("node_type")),
        _ids(data.get("executed")),
        timestamp_ms(data.get("timestamp")),
    )


_DECODERS: dict[str, Callable[[dict[str, Any]], ev.ServerEvent]] = {
    "status": _status,
    "executing": _executing,
    "progress": _progress,
    "progress_state": _progress_state,
    "executed": _executed,
    "execution_start": lambda data: ev.ExecutionStart(_id(data.get("prompt_id")), timestamp_ms(data.get("timestamp"))),
    "execution_cached": lambda data: ev.ExecutionCached(_id(data.get("prompt_id")), _ids(data.get("nodes"))),
    "execution_success": lambda data: ev.ExecutionSuccess(_id(data.get("prompt_id")), timestamp_ms(data.get("timestamp"))),
    "execution_error": lambda data: execution_error(data),
    "execution_interrupted": _execution_interrupted,
    "logs": lambda data: ev.LogEntries(log_entries(data.get("entries"))),
    "feature_flags": lambda data: ev.FeatureFlags(dict(data)),
}
_KNOWN_TYPES = frozenset(_DECODERS)


def decode_message(message: dict[str, Any]) -> ev.ServerEvent:
    """Turn one JSON websocket message ``{"type", "data"}`` into an event. Unknown types are kept.

    A known type whose fields are wrong raises (``BadValue``, ``TypeError``...): ``decode_text``
    turns that into ``Malformed``."""
    kind = message.get("type")
    data = message.get("data")
    if data is None:
        data = {}
    decoder = _DECODERS.get(kind) if type(kind) is str else None
    if not isinstance(data, dict):
        if decoder is not None:
            raise BadValue(f"'data' of a {kind} message is a {type(data).__name__}, not an object")
        return ev.UnknownMessage(_text(kind, MAX_ID_CHARS), data)
    if decoder is None:
        return ev.UnknownMessage(_text(kind, MAX_ID_CHARS), data)
    return decoder(data)


def execution_error(data: dict[str, Any]) -> ev.ExecutionError:
    traceback = data.get("traceback") or ()
    if isinstance(traceback, str):
        traceback = (traceback,)
    if not isinstance(traceback, list | tuple):
        traceback = (str(traceback),)
    return ev.ExecutionError(
        prompt_id=_id(data.get("prompt_id")),
        node_id=_id_or_none(data.get("node_id")),
        node_type=_text_or_none(data.get("node_type")),
        exception_type=_text(data.get("exception_type") or "Exception", MAX_ID_CHARS),
        exception_message=_text(data.get("exception_message") or "").rstrip("\n"),
        traceback=tuple(_text(t) for t in traceback[:1000]),
        executed=_ids(data.get("executed")),
        timestamp=timestamp_ms(data.get("timestamp")),
    )


def log_entries(raw: Any) -> tuple[ev.LogEntry, ...]:
    """Log entries keep their SGR colours and carriage returns (the log buffer resolves tqdm
    redraws); every other escape and control character goes here, where they enter."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        ev.LogEntry(sanitize(str(e.get("t", ""))[:MAX_ID_CHARS]), sanitize(str(e.get("m", ""))[:MAX_TEXT_CHARS], keep_cr=True))
        for e in raw
        if isinstance(e, dict)
    )


_scan_json = json.JSONDecoder().scan_once


def _loads(frame: str) -> Any:
    """``json.loads`` for a websocket frame: the C scanner straight away when the frame is one JSON
    value from its first character to its last (every frame ComfyUI sends), skipping the wrapper's
    Python layers and whitespace matching (a sizeable part of a small frame's cost). Anything else
    (bytes, surrounding whitespace, trailing data, an error) goes through ``json.loads`` itself, so
    errors read the same."""
    if type(frame) is str:
        try:
            message, end = _scan_json(frame, 0)
        except StopIteration:
            pass
        else:
            if end == len(frame):
                return message
    return json.loads(frame)


def decode_text(frame: str) -> ev.ServerEvent:
    """Never raises: a frame that is not JSON, nests too deep, overflows, or has a known type with
    fields of the wrong type or range becomes ``Malformed`` (the stream goes on)."""
    try:
        message = _loads(frame)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return malformed("invalid-json", exc, frame)
    if not isinstance(message, dict):
        return malformed("invalid-json", f"a JSON {type(message).__name__}, not an object", frame)
    try:
        return decode_message(message)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is one skipped frame, never the session
        kind = message.get("type")
        return malformed(f"{strip_controls(kind)[:40] if isinstance(kind, str) else 'untyped'} message", exc, frame)


def decode_binary(frame: bytes) -> ev.ServerEvent:
    """Binary frames: u32 BE event type, then a type-specific layout (COMFY_API.md §2.5). Never raises."""
    try:
        return _decode_binary(frame)
    except Exception as exc:  # noqa: BLE001
        return malformed("binary frame", exc, frame)


def _decode_binary(frame: bytes) -> ev.ServerEvent:
    if len(frame) < 8:
        return malformed("binary frame", f"{len(frame)} bytes, shorter than its 8-byte header", frame)
    (event_type,) = struct.unpack_from(">I", frame, 0)
    if event_type == BINARY_PREVIEW:
        (fmt,) = struct.unpack_from(">I", frame, 4)
        return ev.PreviewImage(bytes(frame[8:]), _IMAGE_FORMATS.get(fmt, "application/octet-stream"))
    if event_type == BINARY_TEXT:
        (n,) = struct.unpack_from(">I", frame, 4)
        if 8 + n > len(frame):
            return malformed("binary text frame", f"node id length {n} runs past the frame's {len(frame)} bytes", frame)
        node_id = _text(bytes(frame[8 : 8 + n]).decode("utf-8", "replace"), MAX_ID_CHARS)
        return ev.ProgressText(node_id, _text(bytes(frame[8 + n :]).decode("utf-8", "replace")))
    if event_type == BINARY_PREVIEW_WITH_METADATA:
        (m,) = struct.unpack_from(">I", frame, 4)
        if 8 + m > len(frame):
            return malformed("binary preview frame", f"metadata length {m} runs past the frame's {len(frame)} bytes", frame)
        try:
            meta = json.loads(bytes(frame[8 : 8 + m]))
        except (ValueError, RecursionError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        return ev.PreviewImage(
            bytes(frame[8 + m :]),
            _text(meta.get("image_type") or "image/png", MAX_ID_CHARS),
            _id_or_none(meta.get("prompt_id")),
            _id_or_none(meta.get("node_id")),
            _id_or_none(meta.get("display_node_id")),
        )
    return ev.UnknownMessage(f"binary-{event_type}", len(frame))


# HTTP payloads: a payload of the wrong shape as a whole is ``MalformedReply`` (the fetch failed,
# callers already handle that); one bad entry in it is reported through ``on_malformed`` and skipped.


class MalformedReply(ServerError):
    """The server answered 200 with a body that is not what ComfyUI sends."""

    def __init__(self, what: str, payload: Any) -> None:
        super().__init__(f"{what}: the reply is not ComfyUI's ({head_of(payload)})", 200)


def _report(on_malformed: OnMalformed | None, bad: ev.Malformed) -> None:
    _log_malformed(bad)
    if on_malformed is not None:
        on_malformed(bad)


def _extra_data(raw: Any) -> dict[str, Any]:
    extra = dict(raw) if isinstance(raw, dict) else {}
    if "client_id" in extra:
        try:
            extra["client_id"] = _id_or_none(extra["client_id"])
        except BadValue:
            extra["client_id"] = None
    if "create_time" in extra:
        extra["create_time"] = timestamp_ms(extra["create_time"])
    return extra


def queue_item(raw: Any) -> ev.QueueItem:
    if not isinstance(raw, list | tuple):
        raise BadValue(f"a queue entry is a {type(raw).__name__}, not a list")
    queue_number, prompt_id, prompt, extra, outputs = (list(raw) + [None] * 5)[:5]
    return ev.QueueItem(
        # front-queued jobs have negative numbers
        number=number(queue_number or 0, "number", -float(MAX_COUNT)),
        prompt_id=_id(prompt_id),
        prompt=prompt if isinstance(prompt, dict) else {},
        extra_data=_extra_data(extra),
        outputs=_ids(outputs) if isinstance(outputs, list | tuple) else (),
    )


def _items(raw: Any, what: str, on_malformed: OnMalformed | None) -> list[ev.QueueItem]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        _report(on_malformed, malformed(what, "not a list", raw))
        return []
    items: list[ev.QueueItem] = []
    for entry in raw:
        try:
            items.append(queue_item(entry))
        except Exception as exc:  # noqa: BLE001 - one bad entry is skipped, the rest is used
            _report(on_malformed, malformed(f"{what} entry", exc, entry))
    return items


def queue_snapshot(payload: Any, on_malformed: OnMalformed | None = None) -> ev.QueueSnapshot:
    if not isinstance(payload, dict):
        raise MalformedReply("reading the queue", payload)
    running = tuple(_items(payload.get("queue_running"), "/queue running", on_malformed))
    # The pending list is a raw heap snapshot: sort by number (then id) for run order.
    pending = sorted(_items(payload.get("queue_pending"), "/queue pending", on_malformed), key=lambda q: (q.number, q.prompt_id))
    return ev.QueueSnapshot(running, tuple(pending))


def output_files(outputs: Any) -> tuple[ev.OutputFile, ...]:
    files: list[ev.OutputFile] = []
    if not isinstance(outputs, dict):
        return ()
    for node_id, ui in outputs.items():
        if not isinstance(ui, dict):
            continue
        for kind, items in ui.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(
                        ev.OutputFile(
                            _text(item["filename"], 1024),
                            _text(item.get("subfolder") or "", 1024),
                            _text(item.get("type") or "output", MAX_ID_CHARS),
                            _id(node_id),
                            _text(kind, MAX_ID_CHARS),
                        )
                    )
    return tuple(files)


def history_entry(prompt_id: str, raw: Any) -> ev.HistoryEntry:
    """One ``/history`` entry; raises on a wrong shape (``history_entries`` skips such entries)."""
    prompt_id = _id(prompt_id)
    raw = _dict(raw, f"history entry {prompt_id}")
    item = queue_item(raw.get("prompt") or [0, prompt_id, {}, {}, []])
    status = _dict(raw.get("status"), "status")
    messages = status.get("messages") or []
    if not isinstance(messages, list):
        messages = []
    started = ended = None
    error: ev.ExecutionError | None = None
    last_kind = ""
    for message in messages:
        if not isinstance(message, list | tuple) or len(message) != 2:
            continue
        kind, data = message
        data = data if isinstance(data, dict) else {}
        if kind == "execution_start":
            started = timestamp_ms(data.get("timestamp"))
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            ended = timestamp_ms(data.get("timestamp"))
            last_kind = kind
            if kind == "execution_error":
                error = execution_error({**data, "prompt_id": prompt_id})
    status_str = _text(status.get("status_str") or ("success" if status.get("completed") else "error"), MAX_ID_CHARS)
    if status_str == "error" and last_kind == "execution_interrupted":
        status_str = "interrupted"
    outputs = raw.get("outputs") or {}
    if not isinstance(outputs, dict):
        outputs = {}
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


def history_entries(payload: Any, on_malformed: OnMalformed | None = None) -> list[ev.HistoryEntry]:
    """``GET /history`` (or ``/history/{id}``): every good entry; bad ones reported and skipped."""
    if payload is None:
        return []
    if not isinstance(payload, dict):
        raise MalformedReply("reading the history", payload)
    entries: list[ev.HistoryEntry] = []
    for prompt_id, raw in payload.items():
        try:
            entries.append(history_entry(prompt_id, raw))
        except Exception as exc:  # noqa: BLE001 - one bad entry is skipped, the rest is used
            _report(on_malformed, malformed("/history entry", exc, raw))
    return entries
