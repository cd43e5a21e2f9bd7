"""The GPU pane's text, without a terminal: full and compact layouts, device matching, /free results."""

from __future__ import annotations

from comfytui.core.comfy.types import FreeResult, SystemStats
from comfytui.core.gpu.sampler import GpuInfo, GpuProcess, GpuSnapshot, MigDevice
from comfytui.tui.screens.gpu import free_text, server_text
from comfytui.tui.widgets.gpu_panel import match_device, pane_text, process_owner, text_height

GIB = 1024**3
REASON = "NVML unavailable: NVML Shared Library Not Found (no NVIDIA driver on this machine)"
CPU_STATS = {
    "system": {"os": "posix", "ram_total": 32 * GIB, "ram_free": 20 * GIB, "comfyui_version": "0.3.75",
               "python_version": "3.11.7 (main)", "pytorch_version": "2.5.1+cu124", "argv": ["main.py", "--cpu"]},
    "devices": [{"name": "cpu", "type": "cpu", "index": None, "vram_total": 32 * GIB, "vram_free": 20 * GIB,
                 "torch_vram_total": 32 * GIB, "torch_vram_free": 20 * GIB}],
}
CUDA_STATS = {
    "system": CPU_STATS["system"],
    "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
                 "vram_total": 24 * GIB, "vram_free": 12 * GIB, "torch_vram_total": 8 * GIB,
                 "torch_vram_free": 2 * GIB}],
}


def gpu(index: int = 0, name: str = "NVIDIA GeForce RTX 4090", processes=()) -> GpuInfo:
    return GpuInfo(index=index, name=name, uuid=f"GPU-{index}", util_gpu=87, memory_used=12 * GIB,
                   memory_total=24 * GIB, temperature_c=66, power_w=320.5, power_limit_w=450.0, fan_percent=55,
                   processes=tuple(processes))


def test_without_nvml_full_and_compact_say_why_and_show_the_server() -> None:
    snap = GpuSnapshot(available=False, reason=REASON)
    full = pane_text(snap, CPU_STATS, 42).plain
    assert full.endswith(REASON) and "cpu (server)" in full and "ComfyUI 0.3.75 · torch 2.5.1" in full
    compact = pane_text(snap, CPU_STATS, 42, compact=True).plain
    assert compact.startswith(REASON)  # first, so it survives a 5-line pane
    assert text_height(pane_text(snap, CPU_STATS, 42, compact=True), 42) <= 5
    assert "cpu" in compact and "12.0G/32.0G" in compact


def test_gpu_with_torch_vram_from_system_stats() -> None:
    comfy = GpuProcess(pid=10, gpu_index=0, used_memory=9 * GIB, kind="compute", name="python3",
                       container_id="a" * 64, container_name="comfyui")
    snap = GpuSnapshot(available=True, driver_version="550.54.15", gpus=(gpu(processes=[comfy]),))
    text = pane_text(snap, CUDA_STATS, 42, managed_container="comfyui").plain
    assert "GPU0 RTX 4090" in text and "66°C 320/450W" in text and "87%" in text
    assert "12.0/24.0 GiB" in text and "torch 6.0 GiB in use of 8.0 GiB reserved" in text
    assert "ComfyUI holds 9.0 GiB" in text and "(server)" not in text  # the cuda device is this GPU
    assert text.endswith("NVML driver 550.54.15")
    compact = pane_text(snap, CUDA_STATS, 42, compact=True).plain
    assert compact.startswith("NVML driver") and "12.0G/24.0G" in compact
    assert all(len(line) <= 42 for line in compact.splitlines())
    assert process_owner(comfy) == "comfyui"


def test_match_device_by_index_only_with_one_gpu() -> None:
    devices = CUDA_STATS["devices"]
    assert match_device(gpu(0), devices, gpu_count=1) is devices[0]
    # two GPUs, and torch's cuda:0 need not be NVML's GPU 0 (CUDA_VISIBLE_DEVICES): no guess
    assert match_device(gpu(0), devices, gpu_count=2) is None
    assert match_device(gpu(0), CPU_STATS["devices"]) is None


def test_match_device_by_uuid_or_pci_bus_id_when_the_server_reports_them() -> None:
    # a newer ComfyUI's /system_stats shape (0.3.75 reports neither field)
    devices = [{**CUDA_STATS["devices"][0], "index": 0, "uuid": "GPU-1"},
               {**CUDA_STATS["devices"][0], "index": 1, "pci_bus_id": "0000:81:00.0"}]
    second = GpuInfo(index=0, name="x", uuid="GPU-9", pci_bus_id="00000000:81:00.0")
    assert match_device(gpu(1), devices, gpu_count=2) is devices[0]  # NVML index 1 is torch's cuda:0
    assert match_device(second, devices, gpu_count=2) is devices[1]
    assert match_device(gpu(2), devices, gpu_count=2) is None


def test_card_says_why_a_gpu_is_unreadable_and_lists_mig_and_notes() -> None:
    broken = GpuInfo(index=0, name=None, uuid=None, unavailable="no permission")
    notes = GpuInfo(index=1, name="NVIDIA T4", uuid="GPU-t4", memory_used=GIB, memory_total=16 * GIB,
                    notes=("power: not supported",),
                    mig_devices=(MigDevice(name="1/1", memory_used=GIB, memory_total=5 * GIB),))
    text = pane_text(GpuSnapshot(available=True, gpus=(broken, notes)), None, 60).plain
    assert "GPU0 unreadable: no permission" in text
    assert "power: not supported" in text and "MIG 1/1 1.0/5.0 GiB" in text
    compact = pane_text(GpuSnapshot(available=True, gpus=(broken, notes)), None, 60, compact=True).plain
    assert "GPU0 unreadable: no permission" in compact


def test_server_and_free_text() -> None:
    text = server_text(CPU_STATS).plain
    assert "ComfyUI 0.3.75" in text and "argv main.py --cpu" in text and "RAM" in text
    assert "waiting" in server_text(None).plain
    before = SystemStats.from_json(CPU_STATS)
    after_raw = {**CPU_STATS, "devices": [{**CPU_STATS["devices"][0], "vram_free": 22 * GIB}]}
    result = FreeResult(True, True, 200, "", before, SystemStats.from_json(after_raw))
    shown = free_text(result).plain
    assert 'POST /free {"unload_models": true, "free_memory": true}: HTTP 200 (empty reply)' in shown
    assert "cpu: VRAM free 20.0 GiB → 22.0 GiB" in shown
