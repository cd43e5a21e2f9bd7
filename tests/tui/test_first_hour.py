"""The first hour with the dashboard, driven with Pilot on the real CPU ComfyUI: server strings
show as written (never as markup), F5 re-reads the config's workflow folders, the CPU is shown once
with honest labels, and other screens show only their own keys."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from comfytui.core import paths
from comfytui.core.config import Config, WorkflowSettings
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.help import HelpScreen
from comfytui.tui.widgets.devices_pane import DevicesPane
from comfytui.tui.widgets.log_pane import LogPane
from comfytui.tui.widgets.workflows_pane import WorkflowList
from harness.app import screen_text, select_workflow, wait_until

pytestmark = pytest.mark.comfy


async def test_file_names_log_lines_and_errors_from_the_server_show_literally(
    dashboard_config: Config, comfy_server, tmp_path: Path
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "[red]x.json").write_text("{ this is not json")
    token = uuid.uuid4().hex[:8]
    config = dashboard_config.replace(workflows=WorkflowSettings(dirs=[str(folder)]))
    app = ComfyTuiApp(config)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        workflows = app.query_one(WorkflowList)
        await wait_until(pilot, lambda: any(e.name == "[red]x.json" for e in workflows.entries), what="the odd file listed")
        assert "[red]x.json" in screen_text(app), "the file name was read as markup"
        # A node fails with a message that looks like markup: the server logs it (Logs pane) and
        # the failure toast quotes it.
        failing = {"1": {"class_type": "ComfyTUIFail", "inputs": {"message": f"[bold]{token}[/bold]", "fail": True}},
                   "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
        await app.session.submit(failing, label="fails.json")
        await wait_until(pilot, lambda: f"ValueError: [bold]{token}[/bold]" in screen_text(app), what="the failure toast, as written")
        logs = app.query_one(LogPane)
        await wait_until(pilot, lambda: any(token in line.plain for line in logs.buffer.lines), what="the server's log line")
        await pilot.press("4", "z")  # the Logs pane maximized: the line is on screen
        await wait_until(pilot, lambda: f"[bold]{token}[/bold]" in screen_text(app), what="the log line shown as written")
        await pilot.press("z", "1")
        select_workflow(app, "[red]x.json")
        await pilot.press("r")  # an unreadable file: the error toast names it as written
        await wait_until(pilot, lambda: "cannot queue [red]x.json" in screen_text(app), what="the error naming the file")


async def test_f5_rereads_the_config_files_workflow_folders(dashboard_config: Config, comfytui_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "more-workflows"
    folder.mkdir()
    name = f"added-{uuid.uuid4().hex[:6]}.json"
    (folder / name).write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}))
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        workflows = app.query_one(WorkflowList)
        await wait_until(pilot, lambda: len(workflows.entries) > 0, what="the workflow list")
        assert name not in screen_text(app)
        config_file = paths.config_file()
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(f'[workflows]\ndirs = ["{folder}"]\n')
        await pilot.press("f5")
        await wait_until(pilot, lambda: name in screen_text(app), what="the folder added to the config file after F5")


async def test_the_cpu_is_shown_once_with_plain_words(dashboard_config: Config) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(DevicesPane)
        await wait_until(pilot, lambda: bool(pane.stats), what="/system_stats in the Devices pane")
        devices = pane.stats["devices"]
        if any(str(d.get("type")).lower() != "cpu" for d in devices):
            pytest.skip("this ComfyUI runs on a GPU: the CPU-only view does not apply")
        await wait_until(pilot, lambda: "CPU only" in screen_text(app), what="the CPU heading")
        text = screen_text(app)
        assert "reserved" not in text and "mem " not in text, "the RAM was shown as GPU memory too"
        assert text.count("RAM ") == 1


async def test_other_screens_show_only_their_own_keys(dashboard_config: Config) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        await pilot.press("m")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ModelsScreen", what="the model browser")
        await pilot.pause(0.3)
        footer = screen_text(app).strip().splitlines()[-1]
        assert "Interrupt" not in footer and "Cancel" not in footer, footer
        await pilot.press("i", "c")  # dashboard keys do nothing here
        assert type(app.screen).__name__ == "ModelsScreen"
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = screen_text(app)
        assert "sha256 of the highlighted file" in text
        assert "Interrupt the running job" not in text and "Queue the selected workflow" not in text
