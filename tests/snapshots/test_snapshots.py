"""Snapshot tests: the whole app, drawn from recorded data, compared with the reviewed SVGs in
``__snapshots__/`` (see README.md here for updating and reviewing them).

Every picture is deterministic: the server is a closed port, the clock is frozen (UTC), ids and the
preview image are fixed, NVML is absent, and each test waits for the screen to stop changing before
the screenshot is taken. The jobs come from the real websocket captures replayed through the real
protocol decoder and job book (``harness.snapshot_data``).

The tests are plain functions: ``snap_compare`` runs the app itself (``App.run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from comfytui.core.comfy import events as ev
from comfytui.core.config import ModelSettings, ProcessSettings
from comfytui.tui.widgets.history_pane import HistoryTable
from harness.app import screen_text, wait_until
from harness.snapshot_data import (
    CAPTURE_EPOCH,
    CLIENT_ID,
    CLOSED_URL,
    FrozenClock,
    replay,
    replay_logs,
    seed_object_info_cache,
    write_models,
)

WORKFLOW = "txt2img-sd15.json"
SMALL = (80, 24)
LARGE = (120, 40)
SIZES = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "120x40"])

RunBefore = Callable[[Pilot], Awaitable[None]]


# -- waiting for a still picture


async def settle(pilot: Pilot, quiet_checks: int = 4, timeout: float = 20.0) -> None:
    """Let workers finish: wait until the picture (text and styles, as the snapshot compares it) has
    not changed for ``quiet_checks`` looks in a row. A blinking cursor or a spinner never settles."""
    import re
    import time

    deadline = time.monotonic() + timeout
    last, same = None, 0
    while time.monotonic() < deadline:
        await pilot.pause(0.15)
        now = re.sub(r"\bterminal-\d+-", "terminal-", pilot.app.export_screenshot())
        same = same + 1 if now == last else 0
        if same >= quiet_checks:
            return
        last = now
    raise AssertionError("the screen kept changing: the picture would not be deterministic")


def no_blinking(app: Any) -> None:
    """Text cursors blink on a timer: keep them still (hidden) in a snapshot."""
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    for widget in app.screen.query(TextArea):
        widget.cursor_blink = False


async def offline(pilot: Pilot) -> None:
    """The real stream's first attempt on the closed port has failed (the "server down" picture)."""
    app = pilot.app
    await wait_until(pilot, lambda: app.session.connection.state == "disconnected", what="the first failed connect")
    await wait_until(pilot, lambda: len(app.dashboard.query_one("#workflows").entries) > 0, what="the workflow list")


async def connected(pilot: Pilot) -> None:
    """After the real stream failed once (it then waits minutes), the session is told it connected:
    its own HTTP calls (system_stats, queue, history) fail on the closed port and change nothing."""
    app = pilot.app
    await offline(pilot)
    await app.session._handle(ev.Connected(CLOSED_URL, CLIENT_ID))
    await wait_until(pilot, lambda: "● connected" in screen_text(app), what="the connected status line")


def scenario(*steps: Callable[[Pilot], Awaitable[None]], settle_after: bool = True) -> RunBefore:
    async def run_before(pilot: Pilot) -> None:
        for step in steps:
            await step(pilot)
        no_blinking(pilot.app)
        if settle_after:
            await settle(pilot)
            no_blinking(pilot.app)

    return run_before


def running_job(clock: FrozenClock) -> Callable[[Pilot], Awaitable[None]]:
    """run_A_legacy_preview up to step 3 of 4, with its preview frame, and the recorded log lines."""

    async def step(pilot: Pilot) -> None:
        app = pilot.app
        await replay_logs(app.session)
        await replay(app.session, clock, "run_A_legacy_preview", "demo-progress.json", progress_limit=3, after_s=0.4)
        await wait_until(pilot, lambda: app.dashboard.query_one("#preview").frames_shown > 0, what="the preview frame")

    return step


def finished_jobs(clock: FrozenClock) -> Callable[[Pilot], Awaitable[None]]:
    """Three recorded runs to the end: success with an output image, an error, an interrupt."""

    async def step(pilot: Pilot) -> None:
        app = pilot.app
        await replay_logs(app.session)
        await replay(app.session, clock, "run_A_legacy_preview", "demo-progress.json")
        await replay(app.session, clock, "run_A_error", "probe-fails.json")
        await replay(app.session, clock, "run_A_interrupt", "long-probe.json", after_s=5.0)
        await wait_until(pilot, lambda: app.dashboard.query_one(HistoryTable).row_count == 3, what="three History rows")

    return step


# -- the dashboard


@SIZES
def test_dashboard_idle(snap_compare, make_app, size) -> None:
    """Connected, nothing queued: every pane in its empty state; the GPU line says NVML is absent."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scenario(connected))


@SIZES
def test_dashboard_running_job_with_preview(snap_compare, make_app, clock, size) -> None:
    """A job at step 3/4: the steps and nodes bars, the node's title, the preview, two log lines."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scenario(connected, running_job(clock)))


@SIZES
def test_dashboard_history_with_outputs(snap_compare, make_app, clock, size) -> None:
    """History, newest first: interrupted, error (its message), success (its output file)."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scenario(connected, finished_jobs(clock)))


@SIZES
def test_dashboard_server_down(snap_compare, make_app, size) -> None:
    """The closed port: the status line says the server is down, why, and when the next try is."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scenario(offline))


# -- screens


def test_job_screen_from_history(snap_compare, make_app, clock) -> None:
    """History → Enter on the successful job: its times, seed, output list (the image cannot be fetched)."""

    async def open_success(pilot: Pilot) -> None:
        await pilot.press("3", "down", "down", "enter")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "JobScreen", what="the job screen")
        await wait_until(pilot, lambda: "capA_00001_.png" in screen_text(pilot.app), what="the output file")

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=scenario(connected, finished_jobs(clock), open_success))


def test_help_screen(snap_compare, make_app) -> None:
    """``?``: every key of the dashboard, grouped."""

    async def open_help(pilot: Pilot) -> None:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen", what="the help screen")

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=scenario(connected, open_help))


def test_gpu_screen_without_nvml(snap_compare, make_app) -> None:
    """``g`` where NVML cannot be loaded: the screen says so and why."""

    async def open_gpu(pilot: Pilot) -> None:
        await pilot.press("g")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "GpuScreen", what="the GPU screen")
        await wait_until(pilot, lambda: "NVML unavailable" in screen_text(pilot.app), what="the NVML reason")

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=scenario(connected, open_gpu))


def test_model_browser(snap_compare, make_app, snap_cwd: Path) -> None:
    """``m`` with a small local models folder (the server is down): folders, files, sizes, dates, flags."""
    write_models(snap_cwd / "models", CAPTURE_EPOCH - 86400)
    app = make_app(models=ModelSettings(dirs=["models"], server_paths="never"))

    async def open_models(pilot: Pilot) -> None:
        await pilot.press("m")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ModelsScreen", what="the model browser")
        await wait_until(pilot, lambda: not pilot.app.screen.listing_busy, what="the listing")

    assert snap_compare(app, terminal_size=LARGE, run_before=scenario(connected, open_models))


def test_workflow_form(snap_compare, make_app, clock) -> None:
    """``e`` on the bundled txt2img-sd15.json, with the recorded /object_info: typed fields, ranges,
    model choices flagged as not available (no server to list them)."""
    seed_object_info_cache(CLOSED_URL, clock)
    app = make_app()

    async def open_form(pilot: Pilot) -> None:
        workflows = pilot.app.dashboard.query_one("#workflows")
        ids = [workflows.get_option_at_index(i).id or "" for i in range(workflows.option_count)]
        rows = [i for i, oid in enumerate(ids) if oid.isdigit() and workflows.entries[int(oid)].name == WORKFLOW]
        assert rows, f"{WORKFLOW} is not listed: {[e.name for e in workflows.entries]}"
        workflows.highlighted = rows[0]
        await pilot.press("e")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "WorkflowFormScreen", what="the form")
        await wait_until(pilot, lambda: pilot.app.screen.ready, what="the form's fields")

    assert snap_compare(app, terminal_size=LARGE, run_before=scenario(connected, open_form))


def test_server_screen_process_not_running(snap_compare, make_app) -> None:
    """``s`` with backend "process" and no ComfyUI folder: the process is not running, start is offered."""
    app = make_app(backend="process", process=ProcessSettings(comfyui_dir="ComfyUI", port=9))

    async def open_server(pilot: Pilot) -> None:
        await pilot.press("s")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "ServerScreen", what="the Server screen")

    assert snap_compare(app, terminal_size=LARGE, run_before=scenario(offline, open_server))


# -- layouts that adapt to the terminal (issue 14)

LAYOUT_SIZES = pytest.mark.parametrize("size", [SMALL, LARGE, (200, 60)], ids=["80x24", "120x40", "200x60"])


@LAYOUT_SIZES
def test_dashboard_layout_with_history(snap_compare, make_app, clock, size) -> None:
    """The same finished jobs at three sizes: at 200 columns the Workflows pane is wide enough for
    whole names; at 80 the Preview gives way (5 brings it back maximized)."""
    assert snap_compare(make_app(), terminal_size=size, run_before=scenario(connected, finished_jobs(clock)))


def test_preview_maximized_at_80x24(snap_compare, make_app, clock) -> None:
    """80x24 has no room for the Preview beside the queue: ``5`` shows it maximized, with its frame."""

    async def open_preview(pilot: Pilot) -> None:
        await pilot.press("5")
        await wait_until(pilot, lambda: pilot.app.dashboard.maximized is not None, what="the maximized preview")

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=scenario(connected, running_job(clock), open_preview))


def test_logs_maximized_with_timestamps(snap_compare, make_app, clock) -> None:
    """``4 z t`` at 80x24: the Logs pane fills the screen and each line shows its time."""

    async def logs_full(pilot: Pilot) -> None:
        await pilot.press("4", "z", "t")
        await wait_until(pilot, lambda: pilot.app.dashboard.maximized is not None, what="the maximized logs")

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=scenario(connected, running_job(clock), logs_full))
