"""GpuSampler through FakeNvml (NVML hardware is absent here) and the real absence path for real."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fake_nvml import NOT_SUPPORTED, FakeGpu, FakeNvml, pynvml, real_nvml_initialises, write_proc

from comfytui.core.config import GpuSettings
from comfytui.core.gpu.sampler import GpuSampler, GpuSnapshot, describe_nvml_error

ID_ROOTLESS = "3f4a9c1e2b7d8f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
ID_ROOTFUL = "a" * 12 + "0123456789abcdef" * 3 + "b" * 4
ID_V1 = "c0ffee" + "1" * 58
ID_DOCKER = "d0cce7" + "2" * 58

LIBRARY_NOT_FOUND_REASON = "NVML unavailable: NVML Shared Library Not Found (no NVIDIA driver on this machine)"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    # rootless podman, cgroup v2, systemd manager
    write_proc(root, 4101, f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID_ROOTLESS}.scope/container\n",
               "python3")
    # rootful podman, cgroup v2
    write_proc(root, 4102, f"0::/machine.slice/libpod-{ID_ROOTFUL}.scope\n", "python")
    # podman with the cgroupfs manager on a cgroup v1 (hybrid) host
    write_proc(root, 4103, "".join([
        f"12:pids:/libpod_parent/libpod-{ID_V1}\n",
        f"4:memory:/libpod_parent/libpod-{ID_V1}\n",
        f"1:name=systemd:/libpod_parent/libpod-{ID_V1}\n",
        "0::/\n",
    ]), "comfyui-worker")
    # docker, cgroup v1
    write_proc(root, 4104, f"11:devices:/docker/{ID_DOCKER}\n3:cpu,cpuacct:/docker/{ID_DOCKER}\n", "Xorg")
    # a bare-metal ComfyUI (pid 5000) and a child of it using the GPU
    write_proc(root, 5000, "0::/user.slice/user-0.slice/session-3.scope\n", "python3.11", ppid=1)
    write_proc(root, 5001, "0::/user.slice/user-0.slice/session-3.scope\n", "python3.11", ppid=5000)
    # some other host process
    write_proc(root, 6000, "0::/user.slice/user-0.slice/session-7.scope\n", "blender")
    return root


def two_gpus() -> list[FakeGpu]:
    return [
        FakeGpu(
            name="NVIDIA GeForce RTX 4090", uuid="GPU-aaaa", util_gpu=87, util_memory=45,
            memory_total=24 * 1024**3, memory_used=12 * 1024**3, temperature=66, power_mw=320_500,
            power_limit_mw=450_000, fan=55,
            compute=[(4101, 9 * 1024**3), (5001, 1 * 1024**3), (6000, None)],
            graphics=[(4104, 256 * 1024**2)],
        ),
        FakeGpu(
            name="NVIDIA A100-SXM4-40GB", uuid="GPU-bbbb", util_gpu=3, util_memory=0,
            memory_total=40 * 1024**3, memory_used=2 * 1024**3, temperature=41,
            power_mw=NOT_SUPPORTED, power_limit_mw=NOT_SUPPORTED, fan=NOT_SUPPORTED,
            compute=[(4102, 2 * 1024**3), (4103, 512 * 1024**2), (7777, 1024)],
            graphics=[(4102, 2 * 1024**3)],
        ),
    ]


async def test_real_nvml_on_this_machine() -> None:
    """The real pynvml here: without a driver the snapshot says why; with one, it has the GPUs."""
    if real_nvml_initialises():
        async with GpuSampler(GpuSettings()) as sampler:
            snap = await sampler.sample()
        assert snap.available and snap.gpus and all(g.uuid or g.unavailable for g in snap.gpus)
        return
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        pynvml.nvmlInit()
    sampler = GpuSampler(GpuSettings())
    started = time.monotonic()
    snap = await sampler.sample()
    assert isinstance(snap, GpuSnapshot)
    assert snap.available is False
    assert snap.reason == LIBRARY_NOT_FOUND_REASON
    assert snap.gpus == ()
    assert sampler.initialised is False
    again = await sampler.sample()  # within the retry interval: answered from the remembered failure
    assert again.reason == LIBRARY_NOT_FOUND_REASON
    await sampler.close()  # no nvmlShutdown after a failed init: must not raise
    assert time.monotonic() - started < 2
    assert snap.to_dict()["available"] is False


async def test_two_gpus_fields_and_not_supported(proc_root: Path) -> None:
    nvml = FakeNvml(two_gpus())
    sampler = GpuSampler(GpuSettings(), nvml=nvml, proc_root=proc_root)
    snap = await sampler.sample()
    assert snap.available and snap.reason == ""
    assert snap.driver_version == "550.54.15"
    g0, g1 = snap.gpus
    assert (g0.index, g0.name, g0.uuid) == (0, "NVIDIA GeForce RTX 4090", "GPU-aaaa")
    assert (g0.util_gpu, g0.util_memory, g0.temperature_c, g0.fan_percent) == (87, 45, 66, 55)
    assert (g0.memory_used, g0.memory_total) == (12 * 1024**3, 24 * 1024**3)
    assert g0.memory_percent == pytest.approx(50.0)
    assert g0.power_w == pytest.approx(320.5) and g0.power_limit_w == pytest.approx(450.0)
    # fields the A100 does not support are None, and not errors
    assert (g1.power_w, g1.power_limit_w, g1.fan_percent) == (None, None, None)
    assert g1.errors == ()
    assert g1.temperature_c == 41
    assert nvml.init_calls == 1


async def test_processes_attributed_to_containers_and_comfyui(proc_root: Path) -> None:
    names = {ID_ROOTLESS: "comfyui", ID_ROOTFUL[:12]: "comfyui-rootful", ID_V1: "legacy"}
    sampler = GpuSampler(GpuSettings(), nvml=FakeNvml(two_gpus()), proc_root=proc_root,
                         container_names=names, comfyui_pids=[5000])
    snap = await sampler.sample()
    by_pid = {p.pid: p for g in snap.gpus for p in g.processes}

    p = by_pid[4101]
    assert (p.container_id, p.container_name, p.name, p.kind) == (ID_ROOTLESS, "comfyui", "python3", "compute")
    assert p.used_memory == 9 * 1024**3 and p.gpu_index == 0 and p.owner == "container comfyui"

    p = by_pid[4102]  # a short id in the map still matches; compute+graphics merged into one row
    assert (p.container_id, p.container_name, p.kind) == (ID_ROOTFUL, "comfyui-rootful", "compute+graphics")
    assert p.used_memory == 2 * 1024**3

    assert (by_pid[4103].container_id, by_pid[4103].container_name) == (ID_V1, "legacy")
    p = by_pid[4104]  # docker: known id, no name given
    assert (p.container_id, p.container_name, p.kind, p.name) == (ID_DOCKER, None, "graphics", "Xorg")
    assert p.owner == f"container {ID_DOCKER[:12]}"

    p = by_pid[5001]  # child of the bare-metal ComfyUI
    assert (p.container_id, p.is_comfyui, p.owner) == (None, True, "comfyui (host)")
    p = by_pid[6000]
    assert (p.container_id, p.is_comfyui, p.used_memory, p.owner, p.name) == (None, False, None, "host", "blender")
    p = by_pid[7777]  # a PID this namespace cannot see
    assert (p.name, p.container_id, p.owner) == (None, None, "host")

    # GPU 0's processes come biggest first
    assert [p.pid for p in snap.gpus[0].processes][:2] == [4101, 5001]
    d = snap.to_dict()
    assert d["gpus"][0]["processes"][0]["owner"] == "container comfyui"
    assert d["gpus"][1]["power_w"] is None


async def test_other_field_errors_are_reported_not_raised(proc_root: Path) -> None:
    gpu = FakeGpu(errors={"temperature": pynvml.NVML_ERROR_UNKNOWN, "fan": pynvml.NVML_ERROR_NOT_SUPPORTED})
    snap = await GpuSampler(GpuSettings(), nvml=FakeNvml([gpu]), proc_root=proc_root).sample()
    (g,) = snap.gpus
    assert g.temperature_c is None and g.fan_percent is None
    assert g.errors == ("temperature: Unknown Error",)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, LIBRARY_NOT_FOUND_REASON),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVML unavailable: Driver Not Loaded (the NVIDIA kernel driver is not loaded)"),
        (pynvml.NVML_ERROR_NO_PERMISSION,
         "NVML unavailable: Insufficient Permissions (no permission to open the NVIDIA devices)"),
        (pynvml.NVML_ERROR_UNKNOWN, "NVML unavailable: Unknown Error"),
    ],
)
async def test_init_failure_is_a_reason_and_retried_rarely(code: int, reason: str) -> None:
    nvml = FakeNvml(init_error=code)
    clock = Clock()
    sampler = GpuSampler(GpuSettings(nvml_retry_s=30.0), nvml=nvml, clock=clock)
    snap = await sampler.sample()
    assert (snap.available, snap.reason) == (False, reason)
    clock.now += 10
    assert (await sampler.sample()).reason == reason
    assert nvml.init_calls == 1  # not retried within 30 s
    nvml.init_error = None  # e.g. the driver got loaded
    clock.now += 21
    snap = await sampler.sample()
    assert snap.available and len(snap.gpus) == 1
    assert nvml.init_calls == 2
    await sampler.close()
    assert nvml.shutdown_calls == 1


async def test_shutdown_only_after_successful_init() -> None:
    failing = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    async with GpuSampler(GpuSettings(), nvml=failing) as sampler:
        await sampler.sample()
    assert failing.shutdown_calls == 0  # FakeNvml would raise Uninitialized if it were called

    ok = FakeNvml()
    async with GpuSampler(GpuSettings(), nvml=ok) as sampler:
        await sampler.sample()
        await sampler.sample()
    assert (ok.init_calls, ok.shutdown_calls) == (1, 1)


async def test_gpu_lost_mid_session_becomes_unavailable_then_recovers() -> None:
    nvml = FakeNvml()
    clock = Clock()
    sampler = GpuSampler(GpuSettings(nvml_retry_s=30.0), nvml=nvml, clock=clock)
    assert (await sampler.sample()).available
    nvml.count_error = pynvml.NVML_ERROR_GPU_IS_LOST
    snap = await sampler.sample()
    assert snap.available is False and snap.reason == "NVML unavailable: GPU is lost"
    assert nvml.shutdown_calls == 1
    nvml.count_error = None
    clock.now += 31
    assert (await sampler.sample()).available
    assert nvml.init_calls == 2


async def test_disabled_in_config() -> None:
    nvml = FakeNvml()
    snap = await GpuSampler(GpuSettings(enabled=False), nvml=nvml).sample()
    assert snap.available is False and "enabled = false" in snap.reason
    assert nvml.init_calls == 0


async def test_history_is_bounded_per_gpu() -> None:
    gpus = [FakeGpu(), FakeGpu(name="second")]
    sampler = GpuSampler(GpuSettings(history=3), nvml=FakeNvml(gpus))
    for util in (10, 20, 30, 40, 50):
        gpus[0].util_gpu = util
        gpus[1].memory_used = util * 1024**3 // 10
        await sampler.sample()
    assert [p.util_gpu for p in sampler.history(0)] == [30, 40, 50]
    assert sampler.series(0) == [30.0, 40.0, 50.0]
    assert len(sampler.history(1)) == 3
    assert sampler.series(1, "memory_percent")[-1] == pytest.approx(100 * 5 / 24)
    assert sampler.history(7) == []


async def test_watch_yields_at_the_interval() -> None:
    sampler = GpuSampler(GpuSettings(interval_s=0.05), nvml=FakeNvml())
    stamps = []
    async for snap in sampler.watch():
        stamps.append(time.monotonic())
        assert snap.available
        if len(stamps) == 3:
            break
    assert stamps[-1] - stamps[0] >= 0.09


async def test_concurrent_samples_are_serialised() -> None:
    nvml = FakeNvml([FakeGpu(), FakeGpu()])
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    snaps = await asyncio.gather(*(sampler.sample() for _ in range(8)))
    assert all(s.available and len(s.gpus) == 2 for s in snaps)
    assert nvml.init_calls == 1


def test_describe_nvml_error_without_value() -> None:
    assert describe_nvml_error(RuntimeError("boom")) == "NVML unavailable: boom"
