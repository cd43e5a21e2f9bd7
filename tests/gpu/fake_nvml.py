"""FakeNvml: the one test double of this project, standing in for NVML hardware that is absent here.

It implements exactly ``comfytui.core.gpu.sampler.NvmlApi`` and raises the real pynvml exception classes
(built the way pynvml builds them, from NVML return codes), so the code under test catches the
same types it catches in production. Nothing else in the suite is faked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pynvml

NOT_SUPPORTED = object()
"""A field value that makes the getter raise NVMLError_NotSupported."""


def nvml_error(code: int) -> Exception:
    return pynvml.NVMLError(code)


@dataclass
class FakeGpu:
    name: str = "NVIDIA GeForce RTX 4090"
    uuid: str = "GPU-00000000-1111-2222-3333-444444444444"
    util_gpu: Any = 50
    util_memory: Any = 20
    memory_total: int = 24 * 1024**3
    memory_used: int = 6 * 1024**3
    temperature: Any = 60
    power_mw: Any = 250_000
    power_limit_mw: Any = 450_000
    fan: Any = 40
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    """(pid, usedGpuMemory bytes or None)."""
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    """Getter name -> NVML return code it raises (e.g. {"temperature": NVML_ERROR_UNKNOWN})."""


class FakeNvml:
    """A scripted NVML: ``gpus`` is the machine; ``init_error`` (an NVML return code) makes nvmlInit fail."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: int | None = None,
                 driver: str = "550.54.15") -> None:
        self.gpus = gpus if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.count_error: int | None = None
        self.driver = driver
        self.init_calls = 0
        self.shutdown_calls = 0
        self.live = False

    # -- lifecycle ---------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise nvml_error(self.init_error)
        self.live = True

    def nvmlShutdown(self) -> None:
        if not self.live:
            raise nvml_error(pynvml.NVML_ERROR_UNINITIALIZED)
        self.shutdown_calls += 1
        self.live = False

    def _check(self) -> None:
        if not self.live:
            raise nvml_error(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        if self.count_error is not None:
            raise nvml_error(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._check()
        return self.gpus[index]

    # -- per-device getters --------------------------------------------------------------------
    def _get(self, gpu: FakeGpu, what: str, value: Any) -> Any:
        self._check()
        if what in gpu.errors:
            raise nvml_error(gpu.errors[what])
        if value is NOT_SUPPORTED:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlDeviceGetName(self, h: FakeGpu) -> str:
        return self._get(h, "name", h.name)

    def nvmlDeviceGetUUID(self, h: FakeGpu) -> str:
        return self._get(h, "uuid", h.uuid)

    def nvmlDeviceGetUtilizationRates(self, h: FakeGpu) -> Any:
        if h.util_gpu is NOT_SUPPORTED:
            return self._get(h, "utilisation", NOT_SUPPORTED)
        return self._get(h, "utilisation", SimpleNamespace(gpu=h.util_gpu, memory=h.util_memory))

    def nvmlDeviceGetMemoryInfo(self, h: FakeGpu) -> Any:
        return self._get(h, "memory", SimpleNamespace(
            total=h.memory_total, used=h.memory_used, free=h.memory_total - h.memory_used
        ))

    def nvmlDeviceGetTemperature(self, h: FakeGpu, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._get(h, "temperature", h.temperature)

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        return self._get(h, "power", h.power_mw)

    def nvmlDeviceGetEnforcedPowerLimit(self, h: FakeGpu) -> int:
        return self._get(h, "power_limit", h.power_limit_mw)

    def nvmlDeviceGetFanSpeed(self, h: FakeGpu) -> int:
        return self._get(h, "fan", h.fan)

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeGpu) -> list[Any]:
        return self._get(h, "compute", [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in h.compute])

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeGpu) -> list[Any]:
        return self._get(h, "graphics", [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in h.graphics])


def write_proc(root: Path, pid: int, cgroup: str, comm: str, ppid: int = 1) -> None:
    """A /proc/<pid> entry (cgroup, comm, stat) in a temp dir, shaped like the real one."""
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "cgroup").write_text(cgroup)
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 4194560 0 0 0 0 0\n")
