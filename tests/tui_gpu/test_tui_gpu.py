"""The Devices pane and the GPU screen, driven through the app against the real CPU ComfyUI.

NVML is absent here: the no-GPU tests use the real pynvml (library not found); the GPU tests
inject ``FakeNvml`` (tests/gpu/fake_nvml.py, the project's one test double) through
``ComfyTuiApp(gpu_sampler=...)``. Process-to-container attribution reads cgroup files shaped like podman's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_nvml import FakeGpu, FakeNvml, write_proc
from textual.geometry import Region
from textual.widgets import DataTable, Sparkline

from comfytui.core.config import Config, GpuSettings
from comfytui.core.gpu.sampler import GpuSampler
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.screens.gpu import GpuScreen
from comfytui.tui.widgets.devices_pane import DevicesPane
from harness.app import screen_text, wait_until

pytestmark = pytest.mark.comfy

CID = "3f4a9c1e2b7d8f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
OTHER_CID = "9" * 64


def visible_text(widget) -> str:
    """What a widget shows (borders included), its lines joined with single spaces."""
    lines = widget.render_lines(Region(0, 0, *widget.outer_size))
    return " ".join(" ".join("".join(seg.text for seg in line).strip(" │╭╮╰╯─").split()) for line in lines)


@pytest.fixture
def fake_gpu_sampler(tmp_path: Path) -> GpuSampler:
    root = tmp_path / "proc"
    # rootless podman, cgroup v2, systemd manager: the ComfyUI container
    write_proc(root, 4101, f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope/container\n",
               "python3")
    # rootful podman: some other container
    write_proc(root, 4102, f"0::/machine.slice/libpod-{OTHER_CID}.scope\n", "python")
    # a host process
    write_proc(root, 6000, "0::/user.slice/user-1000.slice/session-7.scope\n", "blender")
    gpus = [
        FakeGpu(name="NVIDIA GeForce RTX 4090", uuid="GPU-aaaa", util_gpu=87, memory_total=24 * 1024**3,
                memory_used=12 * 1024**3, temperature=66, power_mw=320_500, power_limit_mw=450_000, fan=55,
                compute=[(4101, 9 * 1024**3), (6000, 512 * 1024**2)]),
        FakeGpu(name="NVIDIA RTX A6000", uuid="GPU-bbbb", util_gpu=5, memory_total=48 * 1024**3,
                memory_used=2 * 1024**3, temperature=41, power_mw=70_000, power_limit_mw=300_000, fan=30,
                compute=[(4102, 1024**3)]),
    ]
    return GpuSampler(GpuSettings(interval_s=0.2), nvml=FakeNvml(gpus), proc_root=root,
                      container_names={CID: "comfyui", OTHER_CID: "jupyter"})


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_without_nvml_the_devices_pane_says_why_and_shows_the_server(gpu_app_config: Config, size) -> None:
    app = ComfyTuiApp(gpu_app_config)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        pane = app.query_one(DevicesPane)
        await wait_until(pilot, lambda: pane.stats and pane.snapshot is not None, what="system_stats and an NVML sample")
        await pilot.pause()
        assert not pane.snapshot.available
        reason = pane.snapshot.reason
        assert reason.startswith("NVML unavailable:") and "Not Found" in reason  # the real library is absent
        text = screen_text(app)
        assert "NVML unavailable" in text
        shown = visible_text(pane)
        assert reason in shown, shown  # the whole reason fits, also at 80x24
        if size[0] < 110:  # a short pane keeps NVML's reason; the rest is one key away
            await pilot.press("6", "z")
            await pilot.pause(0.2)
            text = screen_text(app)
        assert "CPU only" in text  # the server's device from /system_stats, shown once, plainly
        if size[0] < 110:
            await pilot.press("z")
        if size[0] >= 110:  # a narrow terminal keeps the version in the top line only
            assert "ComfyUI 0.3.75" in shown
        assert "ComfyUI 0.3.75" in text

        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GpuScreen), what="the GPU screen")
        screen = app.screen
        await wait_until(pilot, lambda: screen.stats is not None and "NVML unavailable" in screen_text(app),
                         what="the GPU screen's no-NVML view")
        text = screen_text(app)
        assert "cpu" in text and "argv" in text and "torch" in text
        assert " ".join(reason.split()[:4]) in " ".join(text.split())
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, GpuScreen), what="going back")
        assert "NVML unavailable" in screen_text(app)


async def test_gpu_screen_with_two_gpus_processes_and_free(gpu_app_config: Config, fake_gpu_sampler) -> None:
    app = ComfyTuiApp(gpu_app_config, gpu_sampler=fake_gpu_sampler)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        pane = app.query_one(DevicesPane)
        await wait_until(pilot, lambda: "GPU0 RTX 4090" in screen_text(app), what="the GPUs in the Devices pane")
        shown = visible_text(pane)
        assert "GPU1 RTX A6000" in shown and "66°C" in shown and "320W" in shown
        assert "87%" in shown and "12.0G/24.0G" in shown and "2.0G/48.0G" in shown  # two GPUs: compact lines
        assert "█" in shown

        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GpuScreen), what="the GPU screen")
        screen: GpuScreen = app.screen  # type: ignore[assignment]
        procs = screen.query_one("#procs", DataTable)
        await wait_until(pilot, lambda: procs.row_count == 3, what="three GPU processes")
        rows = [[str(c) for c in procs.get_row_at(i)] for i in range(procs.row_count)]
        comfy = next(r for r in rows if r[1] == "4101")
        assert comfy[2] == "comfyui" and comfy[6] == "ComfyUI" and comfy[4] == "9.0 GiB"
        assert next(r for r in rows if r[1] == "4102")[2] == "jupyter"
        host = next(r for r in rows if r[1] == "6000")
        assert host[2] == "blender" and host[6] == ""
        # sparklines fill from the sampler's history
        await wait_until(pilot, lambda: len(screen.query_one("#spark-util-0", Sparkline).data or []) >= 3,
                         what="sparkline history")
        assert fake_gpu_sampler.series(0, "util_gpu")[-1] == 87.0
        text = screen_text(app)
        assert "NVML driver 550.54.15 · 2 GPU(s)" in text
        assert "RTX 4090" in text and "RTX A6000" in text and "320/450W" in text
        assert "ComfyUI 0.3.75" in text and "argv" in text  # the server's view, side by side

        # free memory: n sends nothing
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "free memory" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen, what="back from the confirmation")
        await pilot.pause(0.3)
        assert screen.free_results == []
        assert "POST /free" not in screen_text(app)
        # y sends it and shows the server's reply with before/after
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: len(screen.free_results) == 1, timeout=20, what="the /free reply")
        result = screen.free_results[0]
        assert result.status == 200 and result.unload_models and result.free_memory
        assert result.before is not None and result.after is not None
        await wait_until(pilot, lambda: "HTTP 200" in screen_text(app), what="the reply on screen")
        text = screen_text(app)
        assert 'POST /free {"unload_models": true, "free_memory": true}' in text
        assert "VRAM free" in text and "→" in text and "RAM free" in text

        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, GpuScreen), what="going back")
