"""FakeNvml: the test double standing in for NVML hardware, which is absent from the test machines.

It implements the pynvml surface ``comfytui.core.gpu.sampler`` uses and raises the real pynvml
exception classes (built the way pynvml builds them, from NVML return codes; the v3 process
queries raise ``NVMLLibraryMismatchError`` on an old driver, as pynvml's wrapper does), so the code
under test catches the same types it catches in production. What it can script, each because a
real machine does it:

- per GPU: a failing handle lookup, any field raising any NVML code, NotSupported per field, a
  name that is not UTF-8, duplicate and garbage PIDs, reserved memory (v1 vs v2 memory queries);
- per library: functions missing from an older driver (``missing``: FunctionNotFound, and the
  library mismatch on the unversioned process queries), reference-counted init/shutdown,
  a per-call latency, the driver's CUDA version;
- MIG: a parent in MIG mode with instances (memory and processes each), or a permission error.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pynvml

NOT_SUPPORTED = object()
"""A field value that makes the getter raise NVMLError_NotSupported."""

GARBAGE_PIDS = (0, 0xFFFFFFFF, -1, 2**40)
"""PIDs an NVML process list can carry when the driver has no real one to give."""


def nvml_error(code: int) -> Exception:
    return pynvml.NVMLError(code)


@dataclass
class FakeMig:
    """One MIG instance: ``gi`` is its GPU instance id (the ``1`` in ``0/1``)."""

    gi: int
    uuid: str = "MIG-00000000-0000-0000-0000-000000000000"
    memory_total: int = 10 * 1024**3
    memory_used: int = 1 * 1024**3
    compute: list[tuple[int, int | None]] = field(default_factory=list)


@dataclass
class FakeGpu:
    name: str | bytes = "NVIDIA GeForce RTX 4090"
    """bytes that are not UTF-8 make nvmlDeviceGetName raise UnicodeDecodeError, as pynvml does."""
    uuid: str = "GPU-00000000-1111-2222-3333-444444444444"
    util_gpu: Any = 50
    util_memory: Any = 20
    memory_total: int = 24 * 1024**3
    memory_used: int = 6 * 1024**3
    """What the v2 memory query reports (reserved memory excluded)."""
    memory_reserved: int = 0
    """Driver-reserved memory: the v1 query counts it as used."""
    temperature: Any = 60
    power_mw: Any = 250_000
    power_limit_mw: Any = 450_000
    fan: Any = 40
    pci_bus_id: str = "00000000:01:00.0"
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, usedGpuMemory bytes or None)."""
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    """Getter name -> NVML return code it raises (e.g. {"temperature": NVML_ERROR_UNKNOWN})."""
    handle_error: int | None = None
    """nvmlDeviceGetHandleByIndex raises this code (e.g. NVML_ERROR_NO_PERMISSION, GPU_IS_LOST)."""
    mig: list[FakeMig] | None = None
    """None: no MIG on this GPU (nvmlDeviceGetMigMode is NotSupported); a list: MIG on, these instances."""
    mig_error: int | None = None
    """nvmlDeviceGetMigDeviceHandleByIndex raises this (NO_PERMISSION when not root)."""
    mig_slots: int = 7


class FakeNvml:
    """A scripted NVML: ``gpus`` is the machine; ``init_error`` (an NVML return code) makes nvmlInit fail."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLLibraryMismatchError = pynvml.NVMLLibraryMismatchError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: int | None = None,
                 driver: str = "550.54.15", cuda: int = 12040, latency_s: float = 0.0,
                 missing: set[str] | None = None) -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.count_error: int | None = None
        self.driver = driver
        self.cuda = cuda
        self.latency_s = latency_s
        self.missing = set(missing or ())
        """Functions this (older) driver lacks: calling them raises FunctionNotFound."""
        self.init_calls = 0
        self.shutdown_calls = 0
        self.refcount = 0
        self.calls: Counter[str] = Counter()

    @property
    def live(self) -> bool:
        return self.refcount > 0

    def _enter(self, name: str, *, needs_init: bool = True) -> None:
        self.calls[name] += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        if needs_init and not self.live:
            raise nvml_error(pynvml.NVML_ERROR_UNINITIALIZED)
        if name in self.missing:
            raise nvml_error(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)

    # -- lifecycle (reference counted, like NVML: every nvmlInit needs its nvmlShutdown) -------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        self._enter("nvmlInit", needs_init=False)
        if self.init_error is not None:
            raise nvml_error(self.init_error)
        self.refcount += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.shutdown_calls += 1
        self.refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        if self.count_error is not None:
            raise nvml_error(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex")
        gpu = self.gpus[index]
        if gpu.handle_error is not None:
            raise nvml_error(gpu.handle_error)
        return gpu

    # -- per-device getters --------------------------------------------------------------------
    def _get(self, h: FakeGpu | FakeMig, what: str, value: Any, fn: str) -> Any:
        self._enter(fn)
        errors = getattr(h, "errors", {})
        if what in errors:
            raise nvml_error(errors[what])
        if value is NOT_SUPPORTED:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlDeviceGetName(self, h: FakeGpu) -> str:
        name = self._get(h, "name", h.name, "nvmlDeviceGetName")
        return name.decode("utf-8") if isinstance(name, bytes) else name

    def nvmlDeviceGetUUID(self, h: FakeGpu | FakeMig) -> str:
        return self._get(h, "uuid", h.uuid, "nvmlDeviceGetUUID")

    def nvmlDeviceGetPciInfo(self, h: FakeGpu) -> Any:
        return self._get(h, "pci", SimpleNamespace(busId=h.pci_bus_id), "nvmlDeviceGetPciInfo")

    def nvmlDeviceGetUtilizationRates(self, h: FakeGpu) -> Any:
        if h.util_gpu is NOT_SUPPORTED:
            return self._get(h, "utilisation", NOT_SUPPORTED, "nvmlDeviceGetUtilizationRates")
        return self._get(h, "utilisation", SimpleNamespace(gpu=h.util_gpu, memory=h.util_memory),
                         "nvmlDeviceGetUtilizationRates")

    def nvmlDeviceGetMemoryInfo(self, h: FakeGpu | FakeMig, version: int | None = None) -> Any:
        reserved = getattr(h, "memory_reserved", 0)
        if version:
            assert version == pynvml.nvmlMemory_v2
            return self._get(h, "memory", SimpleNamespace(
                version=version, total=h.memory_total, reserved=reserved, used=h.memory_used,
                free=h.memory_total - h.memory_used - reserved,
            ), "nvmlDeviceGetMemoryInfo_v2")
        used = h.memory_used + reserved
        return self._get(h, "memory", SimpleNamespace(total=h.memory_total, used=used, free=h.memory_total - used),
                         "nvmlDeviceGetMemoryInfo")

    def nvmlDeviceGetTemperature(self, h: FakeGpu, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._get(h, "temperature", h.temperature, "nvmlDeviceGetTemperature")

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        return self._get(h, "power", h.power_mw, "nvmlDeviceGetPowerUsage")

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeGpu) -> int:
        return self._get(h, "power_limit", h.power_limit_mw, "nvmlDeviceGetEnforcedPowerLimit")

    def nvmlDeviceGetFanSpeed(self, h: FakeGpu) -> int:
        return self._get(h, "fan", h.fan, "nvmlDeviceGetFanSpeed")

    def _procs(self, h: FakeGpu | FakeMig, kind: str, fn: str) -> list[Any]:
        items = getattr(h, kind, [])
        return self._get(h, kind, [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in items], fn)

    def _v3(self, h: FakeGpu | FakeMig, kind: str, fn: str) -> list[Any]:
        try:
            return self._procs(h, kind, f"{fn}_v3")
        except pynvml.NVMLError_FunctionNotFound as exc:  # what pynvml's throwOnVersionMismatch does
            raise pynvml.NVMLLibraryMismatchError(f"{fn}: use {fn}_v2") from exc

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeGpu | FakeMig) -> list[Any]:
        return self._v3(h, "compute", "nvmlDeviceGetComputeRunningProcesses")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, h: FakeGpu | FakeMig) -> list[Any]:
        return self._procs(h, "compute", "nvmlDeviceGetComputeRunningProcesses_v2")

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeGpu) -> list[Any]:
        return self._v3(h, "graphics", "nvmlDeviceGetGraphicsRunningProcesses")

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, h: FakeGpu) -> list[Any]:
        return self._procs(h, "graphics", "nvmlDeviceGetGraphicsRunningProcesses_v2")

    # -- MIG -----------------------------------------------------------------------------------
    def nvmlDeviceGetMigMode(self, h: FakeGpu) -> list[int]:
        self._enter("nvmlDeviceGetMigMode")
        if h.mig is None:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return [pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: FakeGpu) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount")
        return h.mig_slots

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: FakeGpu, index: int) -> FakeMig:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex")
        if h.mig_error is not None:
            raise nvml_error(h.mig_error)
        if h.mig is None or index >= len(h.mig):
            raise nvml_error(pynvml.NVML_ERROR_NOT_FOUND)
        return h.mig[index]

    def nvmlDeviceGetGpuInstanceId(self, h: FakeMig) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId")
        return h.gi


def write_proc(root: Path, pid: int, cgroup: str, comm: str, ppid: int = 1) -> None:
    """A /proc/<pid> entry (cgroup, comm, stat) in a temp dir, shaped like the real one."""
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "cgroup").write_text(cgroup)
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0 0 0 0\n")


def real_nvml_initialises() -> bool:
    """Whether the real NVML works on this machine (tests of its absence branch on this)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True
