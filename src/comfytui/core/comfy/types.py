"""Typed replies of ComfyUI's info routes (COMFY_API.md §1.6, §1.10, §1.12).

``SystemStats`` (``GET /system_stats``) with its ``DeviceStats``, ``FreeResult`` (``POST /free``) and
``ServerModelFile`` (one file of ``/models/{folder}`` or ``/experiment/models/{folder}``). Pure data:
``ComfyClient`` returns them, ``SystemStatsPoller`` shares the latest ``SystemStats``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeviceStats:
    """One torch device as the server sees it (bytes)."""

    name: str
    type: str
    index: int | None
    vram_total: int | None
    vram_free: int | None
    torch_vram_total: int | None
    torch_vram_free: int | None

    @property
    def vram_used(self) -> int | None:
        if self.vram_total is None or self.vram_free is None:
            return None
        return self.vram_total - self.vram_free


@dataclass(frozen=True)
class SystemStats:
    """``GET /system_stats``; ``raw`` keeps the whole reply for fields added by newer servers.

    ``devices`` keeps every device in the server's order: 0.3.75 lists one, newer servers (0.23+)
    list all of them with the primary first (§5.3)."""

    os: str
    comfyui_version: str
    python_version: str
    pytorch_version: str
    embedded_python: bool
    argv: tuple[str, ...]
    ram_total: int | None
    ram_free: int | None
    devices: tuple[DeviceStats, ...]
    required_frontend_version: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> SystemStats:
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        system = data.get("system") or {}
        devices = []
        for d in data.get("devices") or []:
            if isinstance(d, dict):
                devices.append(DeviceStats(
                    name=str(d.get("name", "")), type=str(d.get("type", "")), index=int_or_none(d.get("index")),
                    vram_total=int_or_none(d.get("vram_total")), vram_free=int_or_none(d.get("vram_free")),
                    torch_vram_total=int_or_none(d.get("torch_vram_total")), torch_vram_free=int_or_none(d.get("torch_vram_free")),
                ))
        return cls(
            os=str(system.get("os", "")),
            comfyui_version=str(system.get("comfyui_version", "")),
            python_version=str(system.get("python_version", "")),
            pytorch_version=str(system.get("pytorch_version", "")),
            embedded_python=bool(system.get("embedded_python", False)),
            argv=tuple(str(a) for a in system.get("argv") or ()),
            ram_total=int_or_none(system.get("ram_total")),
            ram_free=int_or_none(system.get("ram_free")),
            devices=tuple(devices),
            required_frontend_version=str(system.get("required_frontend_version") or ""),
            raw=data,
        )

    @property
    def primary_device(self) -> DeviceStats | None:
        return self.devices[0] if self.devices else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("raw", None)
        out["argv"] = list(self.argv)
        return out


@dataclass(frozen=True)
class FreeResult:
    """What ``POST /free`` did: the request, the server's reply, and memory before and after."""

    unload_models: bool
    free_memory: bool
    status: int
    reply: str
    """The reply body (empty on 0.3.75, which answers 200 with no body)."""
    before: SystemStats | None
    after: SystemStats | None

    def device_changes(self) -> list[dict[str, Any]]:
        """Per device: free VRAM and torch VRAM before and after (bytes; None when unknown)."""
        rows = []
        after = {(d.name, d.index): d for d in (self.after.devices if self.after else ())}
        for d in self.before.devices if self.before else ():
            a = after.get((d.name, d.index))
            rows.append({
                "device": d.name, "type": d.type, "index": d.index,
                "vram_total": d.vram_total,
                "vram_free_before": d.vram_free, "vram_free_after": a.vram_free if a else None,
                "torch_vram_free_before": d.torch_vram_free, "torch_vram_free_after": a.torch_vram_free if a else None,
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": {"unload_models": self.unload_models, "free_memory": self.free_memory},
            "status": self.status,
            "reply": self.reply,
            "ram_free_before": self.before.ram_free if self.before else None,
            "ram_free_after": self.after.ram_free if self.after else None,
            "devices": self.device_changes(),
        }


@dataclass(frozen=True)
class ServerModelFile:
    """One file of a model folder as the server lists it."""

    name: str
    """Relative path with '/' separators: exactly what loader inputs (``ckpt_name``) expect."""
    size: int | None = None
    modified: float | None = None
    """Epoch seconds."""
    path_index: int | None = None
    """Which of the folder's roots (``/internal/folder_paths``) holds it."""


def int_or_none(value: Any) -> int | None:
    """A JSON number as an int; None for missing, boolean or non-numeric values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


JOB_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
"""The jobs API's statuses (§5.1). On 0.3.75 an interrupted job is reported as ``cancelled`` too."""


@dataclass(frozen=True)
class ServerJob:
    """One job as ``GET /api/jobs`` lists it (or as comfytui rebuilds it from ``/queue`` and
    ``/history`` on servers without the jobs API). Times are epoch milliseconds."""

    id: str
    status: str
    priority: float | None = None
    create_time_ms: float | None = None
    started_ms: float | None = None
    ended_ms: float | None = None
    error_message: str | None = None
    outputs_count: int | None = None
    workflow_id: str | None = None
    preview_output: dict[str, Any] | None = None
    # Only from ``GET /api/jobs/{id}`` (or ``/history/{id}``): the detail.
    outputs: dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None

    @property
    def client_id(self) -> str | None:
        value = (self.extra_data or {}).get("client_id")
        return value if isinstance(value, str) else None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    @classmethod
    def from_json(cls, item: Any) -> ServerJob:
        """One jobs API item (list or detail, §5.1); raises ValueError on a wrong shape."""
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("status"), str):
            raise ValueError("a job needs a string id and status")
        error = item.get("execution_error")
        if isinstance(error, dict):
            error = error.get("exception_message") or error.get("message") or None
        workflow = item.get("workflow") if isinstance(item.get("workflow"), dict) else {}
        preview = item.get("preview_output")
        return cls(
            id=item["id"],
            status=item["status"],
            priority=_float_or_none(item.get("priority")),
            create_time_ms=_float_or_none(item.get("create_time")),
            started_ms=_float_or_none(item.get("execution_start_time")),
            ended_ms=_float_or_none(item.get("execution_end_time")),
            error_message=str(error) if error else None,
            outputs_count=int_or_none(item.get("outputs_count")),
            workflow_id=item["workflow_id"] if isinstance(item.get("workflow_id"), str) else None,
            preview_output=preview if isinstance(preview, dict) else None,
            outputs=item["outputs"] if isinstance(item.get("outputs"), dict) else None,
            prompt=workflow["prompt"] if isinstance(workflow.get("prompt"), dict) else None,
            extra_data=workflow["extra_data"] if isinstance(workflow.get("extra_data"), dict) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and k not in ("prompt", "extra_data")}
        if self.client_id:
            out["client_id"] = self.client_id
        return out


@dataclass(frozen=True)
class JobsPage:
    """One page of ``GET /api/jobs``; ``route`` says where it came from: ``jobs`` (the jobs API) or
    ``queue+history`` (0.3.75's routes, filtered, sorted and paged the same way by comfytui)."""

    jobs: tuple[ServerJob, ...]
    total: int
    offset: int
    limit: int | None
    has_more: bool
    route: str


@dataclass(frozen=True)
class CancelOutcome:
    """What one ``ComfyClient.cancel`` call did.

    ``route`` is ``jobs`` (``/api/jobs/.../cancel``) or ``queue+interrupt`` (0.3.75). The jobs API
    says only whether anything was cancelled; the classic route also knows which ids were taken off
    the queue (``dequeued``) and which running job was told to stop (``interrupted``)."""

    route: str
    cancelled: bool
    dequeued: tuple[str, ...] = ()
    interrupted: tuple[str, ...] = ()


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
