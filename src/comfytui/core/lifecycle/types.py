"""Value types of the lifecycle service: status, log lines, pull progress, phases, checks, changes.

Frozen dataclasses with no behaviour beyond formatting; the TUI wraps them into messages and the
headless CLI prints them (``to_json`` gives the ``status --json`` shape).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from comfytui.core.errors import LifecycleError

MANAGED_LABEL = "io.comfytui.managed"
SPEC_HASH_LABEL = "io.comfytui.spec-hash"


class ServiceState(StrEnum):
    ABSENT = "absent"
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    PAUSED = "paused"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PortBinding:
    container_port: int
    host_port: int
    host_ip: str = "127.0.0.1"
    protocol: str = "tcp"

    def __str__(self) -> str:
        ip = self.host_ip or "0.0.0.0"
        return f"{ip}:{self.host_port}->{self.container_port}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class MountInfo:
    source: str
    destination: str
    read_only: bool = False
    kind: str = "bind"
    """``bind`` (a host directory) or ``volume`` (a named podman volume)."""

    def __str__(self) -> str:
        return f"{self.source}:{self.destination}{':ro' if self.read_only else ''}"


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What the backend knows about the managed ComfyUI right now."""

    backend: Literal["container", "process"]
    name: str
    state: ServiceState
    exit_code: int | None = None
    started_at: datetime | None = None
    uptime_s: float | None = None
    image: str = ""
    image_id: str = ""
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[MountInfo, ...] = ()
    gpu_devices: tuple[str, ...] = ()
    pid: int | None = None
    managed: bool = False
    """Carries ``io.comfytui.managed=true`` (container) / was started by comfytui (process)."""
    id: str = ""
    url: str = ""
    """Where ComfyUI answers when it runs."""
    network_mode: str = ""
    spec_hash: str = ""
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.state is ServiceState.RUNNING

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "name": self.name,
            "state": self.state.value,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "uptime_s": round(self.uptime_s, 1) if self.uptime_s is not None else None,
            "image": self.image,
            "image_id": self.image_id,
            "ports": [
                {
                    "host_ip": p.host_ip,
                    "host_port": p.host_port,
                    "container_port": p.container_port,
                    "protocol": p.protocol,
                }
                for p in self.ports
            ],
            "mounts": [
                {"source": m.source, "destination": m.destination, "read_only": m.read_only, "kind": m.kind}
                for m in self.mounts
            ],
            "gpu_devices": list(self.gpu_devices),
            "pid": self.pid,
            "managed": self.managed,
            "id": self.id,
            "url": self.url,
            "network_mode": self.network_mode,
            "spec_hash": self.spec_hash,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class LogLine:
    time: datetime | None
    stream: Literal["stdout", "stderr"]
    text: str


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One event of an image pull. ``percent`` is the overall byte progress over the known layers."""

    layer: str
    status: str
    current: int | None = None
    total: int | None = None
    percent: float | None = None
    layers_done: int = 0
    layers_total: int = 0


class Phase(StrEnum):
    PULLED = "pulled"
    CREATED = "created"
    RUNNING = "running"
    HTTP_READY = "http_ready"
    WS_CONNECTED = "ws_connected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PhaseChanged:
    """The startup moved to ``phase`` (``changed``), or a new log line arrived within it."""

    phase: Phase
    detail: str = ""
    latest_log_line: str | None = None
    elapsed_s: float = 0.0
    changed: bool = True
    attempt: int = 1
    error: StartupFailed | None = None


@dataclass(frozen=True, slots=True)
class PreflightCheck:
    """One preflight result. ``ok=False`` with ``blocking=False`` is a warning."""

    name: str
    ok: bool
    message: str
    fix: str = ""
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the wanted spec and an existing container."""

    field: str
    old: str
    new: str
    text: str = ""

    def __str__(self) -> str:
        return self.text or f"{self.field} {self.old!r} → {self.new!r}"


class StartupFailed(LifecycleError):
    """The server did not come up: the container exited, or it did not answer in time."""

    def __init__(
        self, message: str, *, exit_code: int | None = None, last_lines: list[str] | None = None
    ) -> None:
        lines = list(last_lines or [])
        full = message
        if lines:
            full += "\nlast log lines:\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(full)
        self.reason = message
        self.container_exit_code = exit_code
        self.last_lines = lines


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning or note attached to a spec (CPU mode, exposed port...)."""

    level: Literal["info", "warning"]
    text: str


__all__ = [
    "MANAGED_LABEL",
    "SPEC_HASH_LABEL",
    "Change",
    "LogLine",
    "MountInfo",
    "Notice",
    "Phase",
    "PhaseChanged",
    "PortBinding",
    "PreflightCheck",
    "PullProgress",
    "ServiceState",
    "ServiceStatus",
    "StartupFailed",
]
