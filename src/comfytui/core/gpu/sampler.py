"""GPU sampling through NVML, with per-process memory attributed to containers.

Everything NVML is reached through one narrow seam, ``NvmlApi``: exactly the pynvml functions
used here. The real implementation is the ``pynvml`` module itself (nvidia-ml-py); tests pass
a stand-in because NVML hardware is absent from the test machines.

NVML calls block (a slow driver can take tens of milliseconds), so ``GpuSampler.sample`` runs
them in a worker thread. NVML is initialised lazily, once; when ``nvmlInit`` fails (no driver,
no library, no permission) the snapshot says so (``available=False`` and a ``reason``) and
initialisation is retried only every ``GpuSettings.nvml_retry_s`` seconds. ``nvmlShutdown`` is
called only after a successful ``nvmlInit``.

Host PIDs from NVML are mapped to podman/docker containers through ``/proc/<pid>/cgroup``
(``container_id_from_cgroup``), then to names through a caller-supplied ``{id: name}`` map.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from comfytui.core.config import GpuSettings

# NVML return codes (nvml.h) used to explain a failed init.
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNINITIALIZED = 1

_INIT_HINTS = {
    NVML_ERROR_LIBRARY_NOT_FOUND: "no NVIDIA driver on this machine",
    NVML_ERROR_DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
    NVML_ERROR_NO_PERMISSION: "no permission to open the NVIDIA devices",
}


class NvmlApi(Protocol):
    """The pynvml functions and names comfytui uses; ``pynvml`` (the module) implements it."""

    NVMLError: type[Exception]
    NVMLError_NotSupported: type[Exception]
    NVML_TEMPERATURE_GPU: int

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str: ...
    def nvmlDeviceGetCount(self) -> int: ...
    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any: ...
    def nvmlDeviceGetName(self, handle: Any) -> str: ...
    def nvmlDeviceGetUUID(self, handle: Any) -> str: ...
    # -> an object with ``gpu`` and ``memory`` (percent)
    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any: ...
    # -> an object with ``total``, ``used`` and ``free`` (bytes)
    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any: ...
    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int: ...
    # power and its limit in milliwatts
    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int: ...
    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int: ...
    def nvmlDeviceGetFanSpeed(self, handle: Any) -> int: ...
    # -> objects with ``pid`` and ``usedGpuMemory`` (bytes, or None when the driver hides it)
    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]: ...
    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[Any]: ...


def load_pynvml() -> NvmlApi:
    """The real NVML binding (raises ImportError when the package is missing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynvml 13 warns that it is now a shim over nvidia-ml-py
        return importlib.import_module("pynvml")  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Containers from /proc/<pid>/cgroup

_HEX = r"[0-9a-f]"
_CGROUP_PATTERNS = [
    # systemd cgroup manager: libpod-<64hex>.scope (podman), docker-<id>.scope, crio-, cri-containerd-
    re.compile(rf"(?:^|/)(?:libpod|docker|crio|cri-containerd)-(?!conmon-)({_HEX}{{12,64}})(?:\.scope)?(?=/|$)"),
    # cgroupfs manager: /libpod_parent/libpod-<id>, /docker/<id>, .../containers/<id>, kubepods/.../<id>
    re.compile(rf"(?:^|/)(?:libpod_parent/libpod-|docker/|containers/|kubepods[^\n]*/)({_HEX}{{64}})(?=/|$)"),
    # any bare 64-hex path component
    re.compile(rf"(?:^|/)({_HEX}{{64}})(?=/|$)"),
]


def container_id_from_cgroup(text: str) -> str | None:
    """The container id in the contents of a ``/proc/<pid>/cgroup`` file, or None (host process).

    Accepts cgroup v2 (``0::/path``) and v1 (``N:controllers:/path``) lines. The unified (v2)
    line wins; otherwise the first v1 line naming a container. Within a path the deepest
    container-looking component wins; ``libpod-conmon-<id>`` (podman's monitor) is not a container.
    """
    v2: list[str] = []
    v1: list[str] = []
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, _controllers, path = parts
        (v2 if hierarchy == "0" else v1).append(path.strip().lower())
    for path in [*v2, *v1]:
        found = _id_in_path(path)
        if found:
            return found
    return None


def _id_in_path(path: str) -> str | None:
    for pattern in _CGROUP_PATTERNS:
        matches = list(pattern.finditer(path))
        if matches:
            return max(matches, key=lambda m: m.start(1)).group(1)
    return None


def match_container(container_id: str, names: Mapping[str, str]) -> str | None:
    """The name for ``container_id`` in ``names`` (keys may be full or short ids)."""
    if container_id in names:
        return names[container_id]
    for key, name in names.items():
        k = key.lower()
        if len(k) >= 12 and (container_id.startswith(k) or k.startswith(container_id)):
            return name
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def process_name(pid: int, proc_root: Path = Path("/proc")) -> str | None:
    comm = _read(proc_root / str(pid) / "comm")
    return comm.strip() if comm else None


def parent_pid(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    stat = _read(proc_root / str(pid) / "stat")
    if not stat:
        return None
    # "pid (comm with spaces) state ppid ..." -- comm may contain ')' so split at the last one
    rest = stat.rsplit(")", 1)[-1].split()
    try:
        return int(rest[1])
    except (IndexError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Snapshots


@dataclass(frozen=True)
class GpuProcess:
    """One process holding memory on one GPU (host PID)."""

    pid: int
    gpu_index: int
    used_memory: int | None
    """Bytes; None when the driver does not say (e.g. inside a container without host PID namespace)."""
    kind: str
    """"compute", "graphics" or "compute+graphics"."""
    name: str | None = None
    """``/proc/<pid>/comm``; None when the PID is not visible here."""
    container_id: str | None = None
    container_name: str | None = None
    is_comfyui: bool = False
    """The managed ComfyUI (a known bare-metal PID or one of its children)."""

    @property
    def owner(self) -> str:
        if self.container_name:
            return f"container {self.container_name}"
        if self.container_id:
            return f"container {self.container_id[:12]}"
        if self.is_comfyui:
            return "comfyui (host)"
        return "host"


@dataclass(frozen=True)
class GpuInfo:
    """One GPU at one instant. Fields the device does not support are None."""

    index: int
    name: str | None
    uuid: str | None
    util_gpu: int | None = None
    """Percent of time a kernel ran."""
    util_memory: int | None = None
    """Percent of time memory was read or written."""
    memory_used: int | None = None
    memory_total: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    fan_percent: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    errors: tuple[str, ...] = ()
    """Fields that failed for a reason other than "not supported" (``"temperature: Unknown Error"``)."""

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used is None or not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total


@dataclass(frozen=True)
class GpuSnapshot:
    """All GPUs at one instant, or why there are none (``available=False`` and ``reason``)."""

    available: bool
    reason: str = ""
    timestamp: float = field(default_factory=time.time)
    driver_version: str | None = None
    gpus: tuple[GpuInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for gpu, raw in zip(self.gpus, out["gpus"], strict=True):
            raw["memory_percent"] = gpu.memory_percent
            for proc, praw in zip(gpu.processes, raw["processes"], strict=True):
                praw["owner"] = proc.owner
        return out


@dataclass(frozen=True)
class GpuHistoryPoint:
    """One sample of one GPU, for sparklines."""

    timestamp: float
    util_gpu: int | None
    memory_used: int | None
    memory_total: int | None
    power_w: float | None
    temperature_c: int | None

    @property
    def memory_percent(self) -> float | None:
        if self.memory_used is None or not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total


def describe_nvml_error(exc: BaseException) -> str:
    """"NVML unavailable: <NVML's message> (<what it usually means>)"."""
    value = getattr(exc, "value", None)
    text = str(exc) or type(exc).__name__
    hint = _INIT_HINTS.get(value) if isinstance(value, int) else None
    return f"NVML unavailable: {text}" + (f" ({hint})" if hint else "")


class GpuSampler:
    """Samples every GPU through NVML and keeps a bounded history per GPU.

    ``container_names`` ({container id: name}) and ``comfyui_pids`` (bare-metal ComfyUI PIDs)
    attribute processes; the lifecycle layer updates them as containers come and go.
    """

    def __init__(self, settings: GpuSettings | None = None, *, nvml: NvmlApi | Callable[[], NvmlApi] | None = None,
                 proc_root: str | Path = "/proc", container_names: Mapping[str, str] | None = None,
                 comfyui_pids: Iterable[int] = (), clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or GpuSettings()
        if nvml is None:
            self._loader: Callable[[], NvmlApi] = load_pynvml
        elif callable(nvml) and not hasattr(nvml, "nvmlInit"):
            self._loader = nvml
        else:
            api = nvml
            self._loader = lambda: api  # type: ignore[return-value]
        self.proc_root = Path(proc_root)
        self.container_names: dict[str, str] = dict(container_names or {})
        self.comfyui_pids: set[int] = set(comfyui_pids)
        self._clock = clock
        self._lock = threading.Lock()
        self._nvml: NvmlApi | None = None
        self._initialised = False
        self._failure: str | None = None
        self._failed_at: float | None = None
        self._driver: str | None = None
        self._history: dict[int, deque[GpuHistoryPoint]] = {}

    # -- attribution inputs ---------------------------------------------------------------
    def set_container_names(self, names: Mapping[str, str]) -> None:
        self.container_names = dict(names)

    def set_comfyui_pids(self, pids: Iterable[int]) -> None:
        self.comfyui_pids = set(pids)

    @property
    def interval_s(self) -> float:
        return self.settings.interval_s

    @property
    def initialised(self) -> bool:
        return self._initialised

    # -- NVML lifecycle ---------------------------------------------------------------------
    def _ensure_init(self) -> str | None:
        """Initialise NVML if needed; the reason it is unavailable, or None."""
        if self._initialised:
            return None
        if not self.settings.enabled:
            return "GPU sampling is off ([gpu] enabled = false)"
        now = self._clock()
        if self._failure is not None and self._failed_at is not None and now - self._failed_at < self.settings.nvml_retry_s:
            return self._failure
        try:
            api = self._nvml or self._loader()
        except ImportError as exc:
            self._failure, self._failed_at = f"NVML unavailable: the pynvml package cannot be imported ({exc})", now
            return self._failure
        self._nvml = api
        try:
            api.nvmlInit()
        except api.NVMLError as exc:
            self._failure, self._failed_at = describe_nvml_error(exc), now
            return self._failure
        except OSError as exc:  # a broken library file
            self._failure, self._failed_at = f"NVML unavailable: {exc}", now
            return self._failure
        self._initialised = True
        self._failure = self._failed_at = None
        try:
            self._driver = _text(api.nvmlSystemGetDriverVersion())
        except api.NVMLError:
            self._driver = None
        return None

    def _lost(self, exc: BaseException) -> str:
        """NVML stopped working mid-session (GPU lost, driver unloaded): shut down, retry later."""
        reason = describe_nvml_error(exc)
        self._shutdown_locked()
        self._failure, self._failed_at = reason, self._clock()
        return reason

    def _shutdown_locked(self) -> None:
        if self._initialised and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass
        self._initialised = False

    def close_sync(self) -> None:
        with self._lock:
            self._shutdown_locked()

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    async def __aenter__(self) -> GpuSampler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sampling -----------------------------------------------------------------------------
    def sample_sync(self) -> GpuSnapshot:
        """One snapshot (blocking). Never raises for NVML trouble: see ``available``/``reason``."""
        with self._lock:
            reason = self._ensure_init()
            if reason is not None:
                return GpuSnapshot(available=False, reason=reason)
            api = self._nvml
            assert api is not None
            try:
                count = api.nvmlDeviceGetCount()
                gpus = tuple(self._device(api, i) for i in range(count))
            except api.NVMLError as exc:
                return GpuSnapshot(available=False, reason=self._lost(exc))
            snapshot = GpuSnapshot(available=True, driver_version=self._driver, gpus=gpus)
            self._record(snapshot)
            return snapshot

    async def sample(self) -> GpuSnapshot:
        return await asyncio.to_thread(self.sample_sync)

    async def watch(self, interval_s: float | None = None) -> AsyncIterator[GpuSnapshot]:
        """Snapshots for ever, one per interval (``GpuSettings.interval_s`` by default)."""
        period = self.settings.interval_s if interval_s is None else interval_s
        while True:
            started = self._clock()
            yield await self.sample()
            await asyncio.sleep(max(0.0, period - (self._clock() - started)))

    def _device(self, api: NvmlApi, index: int) -> GpuInfo:
        handle = api.nvmlDeviceGetHandleByIndex(index)
        errors: list[str] = []

        def get(label: str, fn: Callable[..., Any], *args: Any) -> Any:
            try:
                return fn(handle, *args)
            except api.NVMLError_NotSupported:
                return None
            except api.NVMLError as exc:
                if getattr(exc, "value", None) in (NVML_ERROR_GPU_IS_LOST, NVML_ERROR_UNINITIALIZED):
                    raise
                errors.append(f"{label}: {exc}")
                return None

        util = get("utilisation", api.nvmlDeviceGetUtilizationRates)
        memory = get("memory", api.nvmlDeviceGetMemoryInfo)
        power = get("power", api.nvmlDeviceGetPowerUsage)
        limit = get("power limit", api.nvmlDeviceGetEnforcedPowerLimit)
        processes = self._processes(
            api, index,
            get("compute processes", api.nvmlDeviceGetComputeRunningProcesses) or [],
            get("graphics processes", api.nvmlDeviceGetGraphicsRunningProcesses) or [],
        )
        return GpuInfo(
            index=index,
            name=_text(get("name", api.nvmlDeviceGetName)),
            uuid=_text(get("uuid", api.nvmlDeviceGetUUID)),
            util_gpu=_num(getattr(util, "gpu", None)),
            util_memory=_num(getattr(util, "memory", None)),
            memory_used=_num(getattr(memory, "used", None)),
            memory_total=_num(getattr(memory, "total", None)),
            temperature_c=_num(get("temperature", api.nvmlDeviceGetTemperature, api.NVML_TEMPERATURE_GPU)),
            power_w=power / 1000.0 if isinstance(power, int | float) else None,
            power_limit_w=limit / 1000.0 if isinstance(limit, int | float) else None,
            fan_percent=_num(get("fan", api.nvmlDeviceGetFanSpeed)),
            processes=processes,
            errors=tuple(errors),
        )

    def _processes(self, api: NvmlApi, index: int, compute: list[Any], graphics: list[Any]) -> tuple[GpuProcess, ...]:
        merged: dict[int, tuple[set[str], int | None]] = {}
        for kind, items in (("compute", compute), ("graphics", graphics)):
            for item in items:
                pid = getattr(item, "pid", None)
                if not isinstance(pid, int):
                    continue
                used = getattr(item, "usedGpuMemory", None)
                used = used if isinstance(used, int) and used >= 0 and used < 2**63 - 1 else None
                kinds, before = merged.get(pid, (set(), None))
                kinds.add(kind)
                known = [x for x in (before, used) if x is not None]
                merged[pid] = (kinds, max(known) if known else None)
        out = []
        for pid, (kinds, used) in sorted(merged.items(), key=lambda kv: -(kv[1][1] or 0)):
            out.append(self.describe_process(pid, index, used, "+".join(sorted(kinds))))
        return tuple(out)

    def describe_process(self, pid: int, gpu_index: int, used: int | None, kind: str) -> GpuProcess:
        """Attribute one host PID: its name, its container (via cgroup) or the known ComfyUI."""
        cgroup = _read(self.proc_root / str(pid) / "cgroup")
        cid = container_id_from_cgroup(cgroup) if cgroup else None
        return GpuProcess(
            pid=pid, gpu_index=gpu_index, used_memory=used, kind=kind,
            name=process_name(pid, self.proc_root),
            container_id=cid,
            container_name=match_container(cid, self.container_names) if cid else None,
            is_comfyui=cid is None and self._is_comfyui(pid),
        )

    def _is_comfyui(self, pid: int) -> bool:
        if not self.comfyui_pids:
            return False
        seen = 0
        current: int | None = pid
        while current and current > 1 and seen < 32:
            if current in self.comfyui_pids:
                return True
            current = parent_pid(current, self.proc_root)
            seen += 1
        return False

    # -- history ----------------------------------------------------------------------------
    def _record(self, snapshot: GpuSnapshot) -> None:
        size = max(1, self.settings.history)
        for gpu in snapshot.gpus:
            ring = self._history.get(gpu.index)
            if ring is None or ring.maxlen != size:
                ring = self._history[gpu.index] = deque(ring or (), maxlen=size)
            ring.append(GpuHistoryPoint(
                snapshot.timestamp, gpu.util_gpu, gpu.memory_used, gpu.memory_total, gpu.power_w, gpu.temperature_c
            ))

    def history(self, index: int) -> list[GpuHistoryPoint]:
        """The last ``GpuSettings.history`` samples of GPU ``index``, oldest first."""
        return list(self._history.get(index, ()))

    def series(self, index: int, metric: str = "util_gpu") -> list[float]:
        """One metric of GPU ``index`` over time for a sparkline; missing values read as 0.

        ``metric`` is a ``GpuHistoryPoint`` field or ``memory_percent``.
        """
        return [float(getattr(p, metric) or 0.0) for p in self._history.get(index, ())]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _num(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def podman_container_names() -> dict[str, str]:
    """{container id: name} of every podman container, from ``podman ps`` (no shell); {} when podman
    is not installed, fails or takes over 5 s. Used to name the containers NVML processes run in."""
    import asyncio
    import shutil

    if shutil.which("podman") is None:
        return {}
    try:
        proc = await asyncio.create_subprocess_exec(
            "podman", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return {}
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=5)
    except TimeoutError:
        proc.kill()
        return {}
    names = {}
    for line in out.decode(errors="replace").splitlines():
        cid, _, name = line.strip().partition(" ")
        if cid and name:
            names[cid] = name
    return names
