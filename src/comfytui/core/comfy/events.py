"""Events: what the ComfyUI websocket, the resync and the connection manager tell the core.

Frozen dataclasses, decoded from the wire by ``protocol`` and folded into job records by
``jobs.JobBook``. The TUI wraps them into Textual messages; the headless CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Status:
    """Queue size changed (pending + running). Broadcast to every socket."""

    queue_remaining: int
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class ExecutionStart:
    prompt_id: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class ExecutionCached:
    prompt_id: str
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Executing:
    """A node started; ``node is None`` with a prompt id means the job is done and in history."""

    prompt_id: str | None
    node: str | None
    display_node: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    prompt_id: str | None
    node: str | None
    value: int
    max: int


@dataclass(frozen=True, slots=True)
class NodeProgress:
    node_id: str
    value: float
    max: float
    state: str
    display_node_id: str | None = None
    parent_node_id: str | None = None
    real_node_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressState:
    """Cumulative per-node state of one prompt (started nodes only)."""

    prompt_id: str
    nodes: dict[str, NodeProgress]


@dataclass(frozen=True, slots=True)
class Executed:
    prompt_id: str
    node: str
    display_node: str | None
    output: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ExecutionSuccess:
    prompt_id: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class ExecutionError:
    prompt_id: str
    node_id: str | None
    node_type: str | None
    exception_type: str
    exception_message: str
    traceback: tuple[str, ...] = ()
    executed: tuple[str, ...] = ()
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None = None
    node_type: str | None = None
    executed: tuple[str, ...] = ()
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    time: str
    message: str


@dataclass(frozen=True, slots=True)
class LogEntries:
    """ComfyUI's own log lines (``/internal/logs/raw`` backlog or a websocket ``logs`` message)."""

    entries: tuple[LogEntry, ...]
    backlog: bool = False


@dataclass(frozen=True, slots=True)
class FeatureFlags:
    flags: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PreviewImage:
    """A live preview frame. ``prompt_id``/``node_id`` are known only with metadata frames (type 4)."""

    image: bytes
    mime: str
    prompt_id: str | None = None
    node_id: str | None = None
    display_node_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressText:
    node_id: str
    text: str


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A message type we do not know (custom nodes send their own); kept, never fatal."""

    type: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame or HTTP entry that could not be decoded or applied: skipped, counted, never fatal.

    ``head`` is the start of the raw input (control characters made visible) for the log."""

    kind: str
    reason: str
    head: str = ""


# Connection-level events, produced by the stream, not the server.


@dataclass(frozen=True, slots=True)
class Connected:
    url: str
    sid: str
    server_version: str | None = None
    reconnect: bool = False
    via: str = "websocket"
    """``websocket``, or ``polling`` when the websocket cannot be had."""


@dataclass(frozen=True, slots=True)
class Disconnected:
    url: str
    reason: str
    retry_in_s: float | None
    attempt: int


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One ``/queue`` entry: ``[number, prompt_id, prompt, extra_data, outputs]``."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: tuple[str, ...]

    @property
    def client_id(self) -> str | None:
        return self.extra_data.get("client_id")

    @property
    def create_time_ms(self) -> int | None:
        return self.extra_data.get("create_time")


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A file a node produced, as ``/view`` addresses it."""

    filename: str
    subfolder: str
    type: str
    node_id: str = ""
    kind: str = "images"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    prompt_id: str
    number: float
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    status: str
    """``success``, ``error`` or ``interrupted`` (read from the last status message)."""
    outputs: tuple[OutputFile, ...]
    started_ms: int | None
    ended_ms: int | None
    error: ExecutionError | None = None
    raw_outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def client_id(self) -> str | None:
        return self.extra_data.get("client_id")


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The server's queue, fetched over HTTP (resync, status changes, polling)."""

    running: tuple[QueueItem, ...]
    pending: tuple[QueueItem, ...]


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    """History entries fetched over HTTP; ``missing`` lists tracked ids the server no longer knows."""

    entries: tuple[HistoryEntry, ...]
    missing: tuple[str, ...] = ()
    complete: bool = False
    """True when ``entries`` is the whole recent history (so absent ids are not in it)."""


@dataclass(frozen=True, slots=True)
class ServerRestarted:
    """The server's history lost ids it had: it restarted (history lives in memory)."""

    lost: tuple[str, ...]


ServerEvent = (
    Status
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | LogEntries
    | FeatureFlags
    | PreviewImage
    | ProgressText
    | UnknownMessage
    | Malformed
)
