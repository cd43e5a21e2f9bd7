"""Issue 13, "GPU truth": what each GPU's card says when NVML misbehaves in the ways real machines do.

NVML hardware is absent here, so every case runs on ``FakeNvml`` (the NVML double); the real
binding's exception classes are what it raises.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest
from fake_nvml import GARBAGE_PIDS, NOT_SUPPORTED, FakeGpu, FakeMig, FakeNvml, pynvml, write_proc

from comfytui.core.config import Config, GpuSettings, ServerSettings
from comfytui.core.gpu.feed import GpuFeed
from comfytui.core.gpu.sampler import GpuSampler
from core._live import wait_until

GIB = 1024**3
CONTAINER = "3f4a9c1e2b7d8f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"


def machine() -> list[FakeGpu]:
    """Three GPUs: one whose handle lookup is refused, one without power readings, one healthy."""
    return [
        FakeGpu(name="NVIDIA A100", uuid="GPU-refused", handle_error=pynvml.NVML_ERROR_NO_PERMISSION),
        FakeGpu(name="NVIDIA T4", uuid="GPU-nopower", power_mw=NOT_SUPPORTED, power_limit_mw=NOT_SUPPORTED,
                compute=[(4101, 2 * GIB)]),
        FakeGpu(name="NVIDIA GeForce RTX 4090", uuid="GPU-healthy", compute=[(4102, 3 * GIB)]),
    ]


async def test_one_failing_gpu_does_not_blank_the_others() -> None:
    snap = await GpuSampler(GpuSettings(), nvml=FakeNvml(machine())).sample()
    assert snap.available  # only init/count failures make NVML unavailable
    refused, nopower, healthy = snap.gpus
    assert refused.unavailable == "no permission" and refused.name is None
    assert nopower.power_w is None and "power: not supported" in nopower.notes
    assert (nopower.name, nopower.memory_total, nopower.temperature_c) == ("NVIDIA T4", 24 * GIB, 60)
    assert [p.pid for p in nopower.processes] == [4101]
    assert (healthy.power_w, healthy.name, healthy.errors, healthy.notes) == (250.0, "NVIDIA GeForce RTX 4090", (), ())
    assert healthy.processes[0].gpu_uuid == "GPU-healthy"


async def test_a_gpu_fallen_off_the_bus_says_so_on_its_card_only() -> None:
    gpus = [FakeGpu(uuid="GPU-a", handle_error=pynvml.NVML_ERROR_GPU_IS_LOST), FakeGpu(uuid="GPU-b")]
    snap = await GpuSampler(GpuSettings(), nvml=FakeNvml(gpus)).sample()
    assert snap.available
    assert "fell off the bus" in (snap.gpus[0].unavailable or "")
    assert snap.gpus[1].memory_used == 6 * GIB


async def test_errors_are_logged_once_and_unsupported_fields_asked_once(caplog: pytest.LogCaptureFixture) -> None:
    nvml = FakeNvml(machine())
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    with caplog.at_level(logging.DEBUG, logger="comfytui.core.gpu.sampler"):
        snaps = [await sampler.sample() for _ in range(5)]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(set(messages))  # nothing repeats every second
    assert any("GPU 0: no permission" in m for m in messages)
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 1 + 5  # NotSupported is remembered: T4 once, 4090 per sample...
    assert all("power: not supported" in s.gpus[1].notes for s in snaps)  # ...and still shown on every card


async def test_transient_field_errors_are_errors_and_clear_when_the_field_recovers() -> None:
    gpu = FakeGpu(errors={"temperature": pynvml.NVML_ERROR_UNKNOWN})
    nvml = FakeNvml([gpu])
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    assert (await sampler.sample()).gpus[0].errors == ("temperature: Unknown Error",)
    gpu.errors.clear()
    again = (await sampler.sample()).gpus[0]
    assert (again.errors, again.temperature_c) == ((), 60)


async def test_library_mismatch_on_process_query_falls_back_to_v2() -> None:
    gpu = FakeGpu(compute=[(4101, 2 * GIB)], graphics=[(4102, 1 * GIB)])
    nvml = FakeNvml([gpu], missing={"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3"})
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    for _ in range(2):
        (g,) = (await sampler.sample()).gpus
        assert {p.pid: p.used_memory for p in g.processes} == {4101: 2 * GIB, 4102: 1 * GIB}
        assert g.notes == () and g.errors == ()
    assert nvml.calls["nvmlDeviceGetComputeRunningProcesses_v3"] == 1  # the working query is remembered


async def test_no_process_query_at_all_says_unsupported_without_traceback() -> None:
    names = {f"nvmlDeviceGet{k}RunningProcesses{v}" for k in ("Compute", "Graphics") for v in ("_v3", "_v2")}
    (g,) = (await GpuSampler(GpuSettings(), nvml=FakeNvml([FakeGpu(compute=[(4101, GIB)])], missing=names))
            .sample()).gpus
    assert g.processes == ()
    assert "compute processes: not in this driver" in g.notes
    assert g.memory_used == 6 * GIB


async def test_garbage_and_duplicate_pids(tmp_path: Path) -> None:
    gpu = FakeGpu(compute=[(pid, GIB) for pid in GARBAGE_PIDS] + [(4101, 2 * GIB), (4101, 2 * GIB)],
                  graphics=[(4101, 2 * GIB)])
    (g,) = (await GpuSampler(GpuSettings(), nvml=FakeNvml([gpu]), proc_root=tmp_path).sample()).gpus
    (proc,) = g.processes
    assert (proc.pid, proc.used_memory, proc.kind) == (4101, 2 * GIB, "compute+graphics")


async def test_memory_through_v2_excludes_reserved_and_falls_back_to_v1() -> None:
    gpu = FakeGpu(memory_used=6 * GIB, memory_reserved=GIB // 2)
    (g,) = (await GpuSampler(GpuSettings(), nvml=FakeNvml([gpu])).sample()).gpus
    assert g.memory_used == 6 * GIB
    old = FakeNvml([gpu], missing={"nvmlDeviceGetMemoryInfo_v2"})
    sampler = GpuSampler(GpuSettings(), nvml=old)
    for _ in range(2):
        (g,) = (await sampler.sample()).gpus
        assert g.memory_used == 6 * GIB + GIB // 2 and g.notes == ()
    assert old.calls["nvmlDeviceGetMemoryInfo_v2"] == 1


async def test_a_name_that_is_not_utf8_keeps_the_rest_of_the_card() -> None:
    (g,) = (await GpuSampler(GpuSettings(), nvml=FakeNvml([FakeGpu(name=b"NVIDIA \xff\xfe")])).sample()).gpus
    assert g.name is None and "name: not valid UTF-8" in g.notes
    assert g.uuid == "GPU-00000000-1111-2222-3333-444444444444" and g.util_gpu == 50


async def test_driver_library_mismatch_at_init_says_reboot() -> None:
    snap = await GpuSampler(GpuSettings(), nvml=FakeNvml(init_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)).sample()
    assert not snap.available
    assert "driver was upgraded" in snap.reason and "reboot" in snap.reason


async def test_two_mig_instances_with_one_pid_in_both_sum_its_memory(tmp_path: Path) -> None:
    write_proc(tmp_path, 4101, f"0::/machine.slice/libpod-{CONTAINER}.scope\n", "python")
    gpu = FakeGpu(name="NVIDIA A100-SXM4-40GB", uuid="GPU-mig", mig=[
        FakeMig(gi=1, uuid="MIG-one", memory_used=3 * GIB, compute=[(4101, 2 * GIB)]),
        FakeMig(gi=2, uuid="MIG-two", memory_used=5 * GIB, compute=[(4101, 4 * GIB), (4102, GIB)]),
    ])
    sampler = GpuSampler(GpuSettings(), nvml=FakeNvml([gpu]), proc_root=tmp_path,
                         container_names={CONTAINER: "comfyui"})
    snap = await sampler.sample()
    (g,) = snap.gpus
    assert g.mig_enabled is True
    assert [(m.name, m.uuid, m.memory_used) for m in g.mig_devices] == [("0/1", "MIG-one", 3 * GIB),
                                                                         ("0/2", "MIG-two", 5 * GIB)]
    by_pid = {p.pid: p for p in g.processes}
    assert by_pid[4101].used_memory == 6 * GIB  # summed across instances, not the max
    assert by_pid[4101].instances == ("0/1", "0/2")
    assert snap.container_memory() == {"comfyui": {"GPU-mig": 6 * GIB}}


async def test_mig_without_privileges_says_needs_privileges() -> None:
    gpu = FakeGpu(mig=[FakeMig(gi=1)], mig_error=pynvml.NVML_ERROR_NO_PERMISSION, compute=[(4101, GIB)])
    (g,) = (await GpuSampler(GpuSettings(), nvml=FakeNvml([gpu])).sample()).gpus
    assert g.mig_enabled is True and g.mig_devices == ()
    assert any(n.startswith("MIG instances: needs privileges") for n in g.notes)
    assert [p.pid for p in g.processes] == [4101]  # the parent's own list still shows who is there


async def test_history_follows_the_uuid_when_indices_move() -> None:
    a, b = FakeGpu(uuid="GPU-a", util_gpu=10), FakeGpu(uuid="GPU-b", util_gpu=90)
    nvml = FakeNvml([a, b])
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    await sampler.sample()
    nvml.gpus = [b, a]  # e.g. CUDA_VISIBLE_DEVICES or a re-plugged card reorders them
    await sampler.sample()
    assert sampler.series("GPU-a") == [10.0, 10.0]
    assert sampler.series(0) == [90.0, 90.0]  # index 0 is now GPU-b, and its history came along


async def test_init_is_reference_counted_like_nvml() -> None:
    nvml = FakeNvml()
    first, second = GpuSampler(GpuSettings(), nvml=nvml), GpuSampler(GpuSettings(), nvml=nvml)
    await first.sample()
    await second.sample()
    await first.close()
    assert (await second.sample()).available  # the other user's init still holds
    await second.close()
    assert nvml.refcount == 0


async def test_slow_nvml_does_not_block_the_event_loop() -> None:
    nvml = FakeNvml([FakeGpu(), FakeGpu()], latency_s=0.01)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await GpuSampler(GpuSettings(), nvml=nvml).sample()  # ~30 calls x 10 ms in a worker thread
    task.cancel()
    assert ticks >= 10


async def test_cuda_driver_version_is_read_once() -> None:
    nvml = FakeNvml(cuda=13000)
    sampler = GpuSampler(GpuSettings(), nvml=nvml)
    snap = await sampler.sample()
    await sampler.sample()
    assert (snap.cuda_version, sampler.cuda_driver_version()) == ((13, 0), 13000)
    assert nvml.calls["nvmlSystemGetCudaDriverVersion"] == 1


async def test_feed_takes_one_nvml_sample_per_interval_while_naming_a_container(tmp_path: Path) -> None:
    write_proc(tmp_path, 4101, f"0::/machine.slice/libpod-{CONTAINER}.scope\n", "python")
    nvml = FakeNvml([FakeGpu(compute=[(4101, GIB)])])
    lookups = 0

    async def names() -> dict[str, str]:
        nonlocal lookups
        lookups += 1
        return {CONTAINER: "comfyui"}

    feed = GpuFeed(GpuSampler(GpuSettings(), nvml=nvml, proc_root=tmp_path), container_names=names)
    seen = []
    feed.subscribe(seen.append)
    snap = await feed.sample()
    assert snap.gpus[0].processes[0].container_name == "comfyui"
    assert nvml.calls["nvmlDeviceGetCount"] == 1 and lookups == 1
    await feed.sample()
    assert nvml.calls["nvmlDeviceGetCount"] == 2 and lookups == 1  # the name is known now
    assert len(seen) == 2 and feed.latest is seen[-1]
    await feed.stop()
    assert nvml.refcount == 0


async def test_feed_start_samples_in_the_background_and_stop_shuts_nvml() -> None:
    nvml = FakeNvml()
    feed = GpuFeed(GpuSampler(GpuSettings(interval_s=0.05), nvml=nvml))
    got: list[object] = []
    feed.subscribe(got.append)
    feed.start()
    feed.start()  # idempotent: still one loop
    for _ in range(100):
        if len(got) >= 3:
            break
        await asyncio.sleep(0.02)
    await feed.stop()
    assert len(got) >= 3 and not feed.running and nvml.refcount == 0


def _closed_port() -> int:
    from harness.ports import free_port

    return free_port()


async def test_gpu_json_exits_0_with_per_device_errors(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``comfytui gpu --json`` with the NVML double: exit 0 (NVML answered), each card's trouble in the JSON."""
    from comfytui.headless import gpu_cmds

    nvml = FakeNvml(machine())
    monkeypatch.setattr(gpu_cmds, "GpuSampler", lambda settings: GpuSampler(settings, nvml=nvml))
    config = dataclasses.replace(Config(), server=ServerSettings(url=f"http://127.0.0.1:{_closed_port()}"))
    args = argparse.Namespace(json=True, watch=False, interval=None, count=None)
    code = await gpu_cmds.gpu_handler(args, config)
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    gpus = out["nvml"]["gpus"]
    assert gpus[0]["unavailable"] == "no permission"
    assert "power: not supported" in gpus[1]["notes"]
    assert gpus[2]["key"] == "GPU-healthy" and gpus[2]["power_w"] == 250.0
    assert nvml.refcount == 0


async def test_idle_feed_samples_slowly_and_going_live_samples_at_once() -> None:
    nvml = FakeNvml()
    feed = GpuFeed(GpuSampler(GpuSettings(interval_s=0.05), nvml=nvml), idle_interval_s=30.0)
    got: list[object] = []
    feed.subscribe(got.append)
    feed.set_live(False)  # the dashboard with nothing running: an idle GPU's numbers barely move
    feed.start()
    await wait_until(lambda: len(got) >= 1, 10, "the first sample")  # its thread may wait for a core
    await asyncio.sleep(0.3)
    assert len(got) == 1  # the first sample only, not one per 0.05 s
    feed.set_live(True)  # a job started: at once, then every interval
    await wait_until(lambda: len(got) >= 4, 10, "three live samples")
    await feed.stop()
