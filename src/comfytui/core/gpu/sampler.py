"""GPU sampling through NVML, per GPU and per field, with processes attributed to containers.

NVML is reached through one narrow seam, ``NvmlApi``: the pynvml names used here. The real one is
the ``pynvml`` module of nvidia-ml-py; tests pass ``FakeNvml`` because NVML hardware is absent.

NVML calls block, so ``GpuSampler.sample`` runs them in a worker thread. Only ``nvmlInit`` and
``nvmlDeviceGetCount`` failing make the snapshot unavailable (``available=False``, ``reason``;
init retried every ``GpuSettings.nvml_retry_s``). Everything per device, the handle lookup
included, lands in that GPU's ``GpuInfo``: ``unavailable`` (nothing readable), ``errors``
(transient failures) or ``notes`` (permanent: "power: not supported", remembered and logged once).
Memory uses the v2 query, processes the v3 queries with ``_v2`` fallbacks; MIG instances are
listed under their parent. GPUs are identified by UUID (``GpuInfo.key``) for history.

Host PIDs are mapped to containers in ``containers.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from comfytui.core.config import GpuSettings
from comfytui.core.gpu.containers import (
    container_id_from_cgroup,
    match_container,
    parent_pid,
    process_name,
    read_text,
)

log = logging.getLogger(__name__)

# NVML return codes (nvml.h). pynvml builds an ``NVMLError`` subclass per code; comparing codes
# keeps this module independent of which subclasses a given binding version defines.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_DEVICE_MIG_ENABLE = 1

PID_MAX_LIMIT = 4_194_304
"""Linux's hard ceiling on PIDs (64-bit): NVML entries above it (0xFFFFFFFF...) or at 0 are garbage."""

DRIVER_MISMATCH_HINT = (
    "the NVIDIA driver was upgraded but the old kernel module is still loaded: reboot "
    "(or unload and reload the nvidia modules)"
)
_INIT_HINTS = {
    NVML_ERROR_LIBRARY_NOT_FOUND: "no NVIDIA driver on this machine",
    NVML_ERROR_DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
    NVML_ERROR_NO_PERMISSION: "no permission to open the NVIDIA devices",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: DRIVER_MISMATCH_HINT,
}
# Per-field outcomes that will not change until NVML is re-initialised: asked once, then remembered.
_PERMANENT = {
    NVML_ERROR_NOT_SUPPORTED: "not supported",
    NVML_ERROR_FUNCTION_NOT_FOUND: "not in this driver",
    NVML_ERROR_NO_PERMISSION: "no permission",
}


class NvmlApi(Protocol):
    """The pynvml names comfytui uses; ``pynvml`` (the module, from nvidia-ml-py) implements it.

    Optional members (``getattr`` with a default, older bindings lack them): ``NVMLLibraryMismatchError``,
    ``nvmlMemory_v2``, ``nvmlSystemGetCudaDriverVersion``, ``nvmlDeviceGetPciInfo``, the ``_v2``
    process queries, and the MIG functions.
    """

    NVMLError: type[Exception]
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
    # -> an object with ``total``, ``used`` and ``free`` (bytes); ``version=nvmlMemory_v2`` excludes reserved memory
    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: Any = None) -> Any: ...
    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int: ...
    # power and its limit in milliwatts
    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int: ...
    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int: ...
    def nvmlDeviceGetFanSpeed(self, handle: Any) -> int: ...
    # -> objects with ``pid`` and ``usedGpuMemory`` (bytes, or None when the driver hides it)
    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]: ...
    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[Any]: ...


def load_pynvml() -> NvmlApi:
    """The real NVML binding (raises ImportError when nvidia-ml-py is missing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated `pynvml` shim package warns on import
        return importlib.import_module("pynvml")  # type: ignore[return-value]


def nvml_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def nvml_errors(api: Any) -> tuple[type[BaseException], ...]:
    """Every exception class a pynvml call can raise for NVML trouble (not for our bugs)."""
    found: list[type[BaseException]] = [api.NVMLError, UnicodeDecodeError]
    mismatch = getattr(api, "NVMLLibraryMismatchError", None)
    if isinstance(mismatch, type) and issubclass(mismatch, BaseException):
        found.append(mismatch)
    return tuple(found)


def explain_field_error(exc: BaseException) -> str:
    """A short reason for a card: "not supported", "no permission", "not in this driver"..."""
    if isinstance(exc, UnicodeDecodeError):
        return "not valid UTF-8"
    if type(exc).__name__ == "NVMLLibraryMismatchError":
        return "not in this driver (pynvml is newer than the NVML library)"
    code = nvml_code(exc)
    if code in _PERMANENT:
        return _PERMANENT[code]
    if code == NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return f"{exc} ({DRIVER_MISMATCH_HINT})"
    return str(exc) or type(exc).__name__


def _is_permanent(exc: BaseException) -> bool:
    return (nvml_code(exc) in _PERMANENT or isinstance(exc, UnicodeDecodeError)
            or type(exc).__name__ == "NVMLLibraryMismatchError")


def _missing_function(exc: BaseException) -> bool:
    return nvml_code(exc) == NVML_ERROR_FUNCTION_NOT_FOUND or type(exc).__name__ == "NVMLLibraryMismatchError"


class _NvmlGone(Exception):
    """NVML itself stopped answering (shut down under us): the whole snapshot becomes unavailable."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


# ---------------------------------------------------------------------------------------------
# Snapshots


@dataclass(frozen=True)
class GpuProcess:
    """One process holding memory on one GPU (host PID)."""

    pid: int
    gpu_index: int
    used_memory: int | None
    """Bytes; None when the driver does not say (e.g. inside a container without host PID namespace).
    On a MIG GPU, the sum over the instances the PID runs in."""
    kind: str
    """"compute", "graphics" or "compute+graphics"."""
    name: str | None = None
    """``/proc/<pid>/comm``; None when the PID is not visible here."""
    container_id: str | None = None
    container_name: str | None = None
    is_comfyui: bool = False
    """The managed ComfyUI (a known bare-metal PID or one of its children)."""
    gpu_uuid: str | None = None
    instances: tuple[str, ...] = ()
    """The MIG instances (``"0/1"``) the PID holds memory in; empty on a GPU without MIG."""

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
class MigDevice:
    """One MIG instance of a GPU (``name`` is ``"<gpu index>/<instance>"``, as on the card)."""

    name: str
    uuid: str | None = None
    memory_used: int | None = None
    memory_total: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuInfo:
    """One GPU at one instant. Fields the device does not support are None (and named in ``notes``)."""

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
    """Fields that failed unexpectedly (``"temperature: Unknown Error"``)."""
    notes: tuple[str, ...] = ()
    """Fields this GPU cannot give (``"power: not supported"``, ``"fan: no permission"``)."""
    unavailable: str | None = None
    """Why nothing at all could be read from this GPU (its handle lookup failed, it fell off the bus)."""
    pci_bus_id: str | None = None
    mig_enabled: bool | None = None
    """None: the GPU has no MIG (or the driver cannot say)."""
    mig_devices: tuple[MigDevice, ...] = ()

    @property
    def key(self) -> str:
        """The GPU's identity across samples: its UUID (indices move when GPUs are added or hidden)."""
        return self.uuid or f"index:{self.index}"

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
    cuda_driver_version: int | None = None
    """The newest CUDA the driver supports, as NVML encodes it (12040 = 12.4)."""

    @property
    def cuda_version(self) -> tuple[int, int] | None:
        v = self.cuda_driver_version
        return None if not v else (v // 1000, (v % 1000) // 10)

    def by_uuid(self, uuid: str) -> GpuInfo | None:
        return next((g for g in self.gpus if g.uuid == uuid), None)

    def container_memory(self) -> dict[str, dict[str, int]]:
        """{container name (or short id): {GPU key (UUID): bytes}}: what each container holds where."""
        out: dict[str, dict[str, int]] = {}
        for gpu in self.gpus:
            for proc in gpu.processes:
                owner = proc.container_name or (proc.container_id[:12] if proc.container_id else None)
                if owner and proc.used_memory:
                    per_gpu = out.setdefault(owner, {})
                    per_gpu[gpu.key] = per_gpu.get(gpu.key, 0) + proc.used_memory
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cuda_version"] = ".".join(map(str, self.cuda_version)) if self.cuda_version else None
        for gpu, raw in zip(self.gpus, out["gpus"], strict=True):
            raw["key"] = gpu.key
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
    code = nvml_code(exc)
    text = str(exc) or type(exc).__name__
    hint = _INIT_HINTS.get(code) if code is not None else None
    return f"NVML unavailable: {text}" + (f" ({hint})" if hint else "")


class _Fields:
    """Reads fields of one device; a failure lands in ``errors`` or ``notes``, never escapes.

    Permanent outcomes (not supported, no permission, missing function) are remembered in
    ``known`` so the next samples neither ask NVML again nor log again.
    """

    def __init__(self, sampler: GpuSampler, api: Any, handle: Any, where: str) -> None:
        self.sampler, self.api, self.handle, self.where = sampler, api, handle, where
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.catch = nvml_errors(api)

    def get(self, label: str, fn: Callable[..., Any] | None, *args: Any, **kwargs: Any) -> Any:
        key = (self.where, label)
        known = self.sampler._known_failures.get(key)
        if known is not None:
            self.notes.append(f"{label}: {known}")
            return None
        if fn is None:
            return self._failed(label, key, "not in this driver", permanent=True)
        try:
            return fn(self.handle, *args, **kwargs)
        except self.catch as exc:
            if nvml_code(exc) == NVML_ERROR_UNINITIALIZED:
                raise _NvmlGone(exc) from exc
            return self._failed(label, key, explain_field_error(exc), permanent=_is_permanent(exc))

    def _failed(self, label: str, key: tuple[str, str], why: str, *, permanent: bool) -> None:
        if permanent:
            self.sampler._known_failures[key] = why
            self.notes.append(f"{label}: {why}")
        else:
            self.errors.append(f"{label}: {why}")
        # "not supported" is how a consumer card is, not trouble: debug level
        self.sampler._log_once(f"{self.where} {label}: {why}", logging.DEBUG if permanent else logging.WARNING)
        return None


class GpuSampler:
    """Samples every GPU through NVML and keeps a bounded history per GPU (keyed by UUID).

    ``container_names`` ({container id: name}) and ``comfyui_pids`` (bare-metal ComfyUI PIDs)
    attribute processes; the lifecycle layer updates them as containers come and go.

    Only ``nvmlInit`` and ``nvmlDeviceGetCount`` failing make NVML unavailable; everything per
    device (the handle lookup included) and per field lands in that GPU's card.
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
        self._cuda: int | None = None
        self._history: dict[str, deque[GpuHistoryPoint]] = {}
        self._index_keys: dict[int, str] = {}
        self._known_failures: dict[tuple[str, str], str] = {}
        self._logged: set[str] = set()
        self._memory_v2: bool | None = None
        """None: not tried yet; False: the driver or binding lacks nvmlDeviceGetMemoryInfo_v2."""
        self._process_calls: dict[str, str] = {}
        """{"Compute"/"Graphics": the pynvml function name that worked}."""

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

    def _log_once(self, message: str, level: int = logging.WARNING) -> None:
        # a broken sensor would otherwise log the same line every interval, for ever
        if message not in self._logged:
            self._logged.add(message)
            log.log(level, "NVML: %s", message)

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
            self._failure, self._failed_at = (
                f"NVML unavailable: the NVML binding cannot be imported (pip install nvidia-ml-py): {exc}", now)
            return self._failure
        self._nvml = api
        try:
            api.nvmlInit()
        except (*nvml_errors(api), OSError) as exc:  # OSError: a broken library file
            self._failure, self._failed_at = describe_nvml_error(exc), now
            self._log_once(self._failure)
            return self._failure
        self._initialised = True
        self._failure = self._failed_at = None
        self._known_failures.clear()
        catch = nvml_errors(api)
        try:
            self._driver = _text(api.nvmlSystemGetDriverVersion())
        except catch:
            self._driver = None
        cuda = getattr(api, "nvmlSystemGetCudaDriverVersion", None)
        try:
            self._cuda = _num(cuda()) if cuda else None
        except catch:
            self._cuda = None
        return None

    def _lost(self, exc: BaseException) -> str:
        """NVML stopped working mid-session (driver unloaded, all GPUs gone): shut down, retry later."""
        reason = describe_nvml_error(exc)
        self._shutdown_locked()
        self._failure, self._failed_at = reason, self._clock()
        self._log_once(reason)
        return reason

    def _shutdown_locked(self) -> None:
        if self._initialised and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except nvml_errors(self._nvml):
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

    def cuda_driver_version(self) -> int | None:
        """The driver's CUDA version (12040 = 12.4) after a successful sample, else None."""
        return self._cuda if self._initialised else None

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
            except _NvmlGone as gone:
                return GpuSnapshot(available=False, reason=self._lost(gone.cause))
            except nvml_errors(api) as exc:  # the count itself failed
                return GpuSnapshot(available=False, reason=self._lost(exc))
            snapshot = GpuSnapshot(available=True, driver_version=self._driver, gpus=gpus,
                                   cuda_driver_version=self._cuda)
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
        catch = nvml_errors(api)
        try:
            handle = api.nvmlDeviceGetHandleByIndex(index)
        except catch as exc:
            if nvml_code(exc) == NVML_ERROR_UNINITIALIZED:
                raise _NvmlGone(exc) from exc
            why = explain_field_error(exc)
            if nvml_code(exc) == NVML_ERROR_GPU_IS_LOST:
                why = "GPU is lost (it fell off the bus: check power and cabling, then reboot)"
            self._log_once(f"GPU {index}: {why}")
            return GpuInfo(index=index, name=None, uuid=None, unavailable=why)
        where = f"GPU {index}"
        f = _Fields(self, api, handle, where)
        name = _text(f.get("name", api.nvmlDeviceGetName))
        uuid = _text(f.get("uuid", api.nvmlDeviceGetUUID))
        pci = f.get("pci", getattr(api, "nvmlDeviceGetPciInfo", None))
        util = f.get("utilisation", api.nvmlDeviceGetUtilizationRates)
        memory = self._memory(f, "memory")
        power = f.get("power", api.nvmlDeviceGetPowerUsage)
        limit = f.get("power limit", api.nvmlDeviceGetEnforcedPowerLimit)
        temperature = f.get("temperature", api.nvmlDeviceGetTemperature, api.NVML_TEMPERATURE_GPU)
        fan = f.get("fan", api.nvmlDeviceGetFanSpeed)
        mig_enabled, migs = self._mig(api, f, index, uuid)
        if migs:
            processes = _sum_instances(index, uuid, migs)
        else:
            processes = self._processes(f, index, uuid)
        return GpuInfo(
            index=index, name=name, uuid=uuid,
            util_gpu=_num(getattr(util, "gpu", None)),
            util_memory=_num(getattr(util, "memory", None)),
            memory_used=_num(getattr(memory, "used", None)),
            memory_total=_num(getattr(memory, "total", None)),
            temperature_c=_num(temperature),
            power_w=power / 1000.0 if _num(power) is not None else None,
            power_limit_w=limit / 1000.0 if _num(limit) is not None else None,
            fan_percent=_num(fan),
            processes=processes,
            errors=tuple(f.errors),
            notes=tuple(f.notes),
            pci_bus_id=_text(getattr(pci, "busId", None)),
            mig_enabled=mig_enabled,
            mig_devices=migs,
        )

    def _memory(self, f: _Fields, label: str) -> Any:
        """``nvmlDeviceGetMemoryInfo`` v2 (``used`` without the driver's reserved memory), else v1."""
        api = f.api
        version = getattr(api, "nvmlMemory_v2", None)
        if version is not None and self._memory_v2 is not False:
            try:
                memory = api.nvmlDeviceGetMemoryInfo(f.handle, version=version)
            except TypeError:  # a binding whose nvmlDeviceGetMemoryInfo takes no version
                self._memory_v2 = False
            except f.catch as exc:
                if nvml_code(exc) == NVML_ERROR_UNINITIALIZED:
                    raise _NvmlGone(exc) from exc
                if _missing_function(exc):
                    self._memory_v2 = False
            else:
                self._memory_v2 = True
                return memory
        return f.get(label, api.nvmlDeviceGetMemoryInfo)

    def _process_list(self, f: _Fields, kind: str) -> list[Any] | None:
        """Compute or graphics processes: the v3 query, else ``_v2`` (older drivers); None when neither."""
        base = f"nvmlDeviceGet{kind}RunningProcesses"
        label = f"{kind.lower()} processes"
        remembered = self._process_calls.get(kind)
        names = [remembered] if remembered else [base, f"{base}_v2"]
        for name in names:
            fn = getattr(f.api, name, None)
            if fn is None:
                continue
            try:
                items = fn(f.handle)
            except f.catch as exc:
                if nvml_code(exc) == NVML_ERROR_UNINITIALIZED:
                    raise _NvmlGone(exc) from exc
                if _missing_function(exc) and name != names[-1]:
                    continue  # e.g. NVMLLibraryMismatchError from the v3 query on an older driver
                f.get(label, _raiser(exc))
                return None
            self._process_calls[kind] = name
            return list(items or [])
        f.get(label, None)
        return None

    def _processes(self, f: _Fields, index: int, uuid: str | None, instance: str | None = None) -> tuple[GpuProcess, ...]:
        """One device's processes; compute and graphics rows of one PID merge (same memory, so max)."""
        merged: dict[int, tuple[set[str], int | None]] = {}
        kinds = ("Compute",) if instance else ("Compute", "Graphics")  # MIG has no graphics
        for kind in kinds:
            for item in self._process_list(f, kind) or []:
                pid = getattr(item, "pid", None)
                if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= PID_MAX_LIMIT:
                    continue
                used = getattr(item, "usedGpuMemory", None)
                used = used if isinstance(used, int) and 0 <= used < 2**63 - 1 else None
                seen, before = merged.get(pid, (set(), None))
                seen.add(kind.lower())
                known = [x for x in (before, used) if x is not None]
                merged[pid] = (seen, max(known) if known else None)
        out = []
        for pid, (seen, used) in sorted(merged.items(), key=lambda kv: -(kv[1][1] or 0)):
            proc = self.describe_process(pid, index, used, "+".join(sorted(seen)))
            out.append(replace(proc, gpu_uuid=uuid, instances=(instance,) if instance else ()))
        return tuple(out)

    def _mig(self, api: Any, f: _Fields, index: int, uuid: str | None) -> tuple[bool | None, tuple[MigDevice, ...]]:
        """MIG mode and the instances under this GPU (each with its memory and processes)."""
        get_mode = getattr(api, "nvmlDeviceGetMigMode", None)
        if get_mode is None:
            return None, ()
        before = len(f.notes)
        mode = f.get("MIG mode", get_mode)
        if mode is None:
            del f.notes[before:]  # no MIG on this GPU: not worth a note on every consumer card
            return None, ()
        enabled = (mode[0] if isinstance(mode, list | tuple) else mode) == NVML_DEVICE_MIG_ENABLE
        if not enabled:
            return False, ()
        slots = f.get("MIG instances", getattr(api, "nvmlDeviceGetMaxMigDeviceCount", None))
        by_slot = getattr(api, "nvmlDeviceGetMigDeviceHandleByIndex", None)
        devices: list[MigDevice] = []
        for slot in range(_num(slots) or 0):
            try:
                mig_handle = by_slot(f.handle, slot) if by_slot else None
            except f.catch as exc:
                code = nvml_code(exc)
                if code == NVML_ERROR_NOT_FOUND:
                    continue  # an empty slot
                if code == NVML_ERROR_UNINITIALIZED:
                    raise _NvmlGone(exc) from exc
                if code == NVML_ERROR_NO_PERMISSION:
                    why = "needs privileges (run as root to see MIG instances, their memory and processes)"
                else:
                    why = explain_field_error(exc)
                f.notes.append(f"MIG instances: {why}")
                self._log_once(f"GPU {index} MIG instances: {why}")
                break
            if mig_handle is None:
                continue
            name = f"{index}/{self._mig_instance_id(api, f.catch, mig_handle, slot)}"
            mf = _Fields(self, api, mig_handle, f"MIG {name}")
            memory = self._memory(mf, "memory")
            procs = self._processes(mf, index, uuid, instance=name)
            devices.append(MigDevice(
                name=name, uuid=_text(mf.get("uuid", api.nvmlDeviceGetUUID)),
                memory_used=_num(getattr(memory, "used", None)), memory_total=_num(getattr(memory, "total", None)),
                processes=procs, errors=tuple(mf.errors), notes=tuple(mf.notes),
            ))
        return True, tuple(devices)

    @staticmethod
    def _mig_instance_id(api: Any, catch: tuple[type[BaseException], ...], handle: Any, slot: int) -> int:
        get_id = getattr(api, "nvmlDeviceGetGpuInstanceId", None)
        try:
            value = get_id(handle) if get_id else None
        except catch:
            value = None
        return value if isinstance(value, int) else slot

    def describe_process(self, pid: int, gpu_index: int, used: int | None, kind: str) -> GpuProcess:
        """Attribute one host PID: its name, its container (via cgroup) or the known ComfyUI."""
        cgroup = read_text(self.proc_root / str(pid) / "cgroup")
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
        uuids = [g.uuid for g in snapshot.gpus if g.uuid]
        for gpu in snapshot.gpus:
            if gpu.unavailable:
                continue
            # a duplicated UUID (a broken driver or double) must not merge two GPUs' histories
            key = gpu.key if uuids.count(gpu.uuid) <= 1 else f"index:{gpu.index}"
            self._index_keys[gpu.index] = key
            ring = self._history.get(key)
            if ring is None or ring.maxlen != size:
                ring = self._history[key] = deque(ring or (), maxlen=size)
            ring.append(GpuHistoryPoint(
                snapshot.timestamp, gpu.util_gpu, gpu.memory_used, gpu.memory_total, gpu.power_w, gpu.temperature_c
            ))

    def _ring(self, gpu: int | str) -> Iterable[GpuHistoryPoint]:
        key = self._index_keys.get(gpu) if isinstance(gpu, int) else gpu
        return self._history.get(key, ()) if key is not None else ()

    def history(self, gpu: int | str) -> list[GpuHistoryPoint]:
        """The last ``GpuSettings.history`` samples of a GPU (its UUID, or its index now), oldest first."""
        return list(self._ring(gpu))

    def series(self, gpu: int | str, metric: str = "util_gpu") -> list[float]:
        """One metric of a GPU (UUID or index) over time for a sparkline; missing values read as 0.

        ``metric`` is a ``GpuHistoryPoint`` field or ``memory_percent``.
        """
        return [float(getattr(p, metric) or 0.0) for p in self._ring(gpu)]


def _sum_instances(index: int, uuid: str | None, migs: Iterable[MigDevice]) -> tuple[GpuProcess, ...]:
    """A MIG GPU's processes: one row per PID, its memory summed over the instances it runs in."""
    rows: dict[int, GpuProcess] = {}
    for mig in migs:
        for proc in mig.processes:
            before = rows.get(proc.pid)
            if before is None:
                rows[proc.pid] = proc
                continue
            used = None if before.used_memory is None and proc.used_memory is None else \
                (before.used_memory or 0) + (proc.used_memory or 0)
            rows[proc.pid] = replace(before, used_memory=used, instances=(*before.instances, *proc.instances))
    return tuple(sorted(rows.values(), key=lambda p: -(p.used_memory or 0)))


def _raiser(exc: BaseException) -> Callable[..., Any]:
    def raise_it(*_args: Any) -> Any:
        raise exc

    return raise_it


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _num(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
