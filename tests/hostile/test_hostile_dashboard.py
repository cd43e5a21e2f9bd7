"""The real dashboard pointed at the hostile ComfyUI look-alike (tests/hostile/hostile_comfy.py):
malformed websocket frames mid-job, an oversized frame that drops the socket, HTTP 500 / stall /
truncated body / cross-origin redirect. What the user sees: the job ends in History, the header is
connected again within 2 s of the drop and counts the skipped messages, no worker died, and
server-sent escapes and a ``[red]`` in a job label show as inert text."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hostile_comfy import HostileComfy
from textual.worker import WorkerState
from textual.worker_manager import WorkerManager

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from comfytui.core.config import Config, ReconnectSettings
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.log_pane import LogPane
from comfytui.tui.widgets.status_line import StatusLine
from harness.app import screen_text, select_workflow, wait_until
from harness.comfy import progress_prompt

pytestmark = pytest.mark.comfy

RECONNECT_WITHIN_S = 2.0
SKIPPED_AT_LEAST = 15
"""Frames of ``malformed_frames`` that are malformed (the rest are unknown types, kept)."""
LABEL = "[red]hostile[bold] \x1b[31mjob\x1b]0;owned\x07.json"
"""A workflow file name a user could have: markup and terminal escapes that must stay inert."""


def _header(app: ComfyTuiApp) -> str:
    return str(app.query_one(StatusLine).render())


async def test_dashboard_survives_the_hostile_server_and_shows_it(
    comfy_server, comfytui_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every worker that ends is removed from app.workers: keep what each ended as.
    ended: list[tuple[str, WorkerState, BaseException | None]] = []
    original_remove = WorkerManager._remove_worker

    def remove_worker(self, worker) -> None:
        ended.append((worker.group, worker.state, worker.error))
        original_remove(self, worker)

    monkeypatch.setattr(WorkerManager, "_remove_worker", remove_worker)

    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / LABEL).write_text(json.dumps(progress_prompt(steps=8, delay=0.25, prefix="hostile_dash")))

    hostile = HostileComfy(comfy_server.url, faults=frozenset({"frames", "oversized", "http"})).start()
    try:
        config = Config().with_server(url=hostile.url, timeout_s=20)
        config = config.replace(
            reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
            ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
            workflows=type(config.workflows)(dirs=[str(workflows)]),
        )
        app = ComfyTuiApp(config)
        drops: list[float] = []
        async with app.run_test(size=(140, 44)) as pilot:
            def on_update(update) -> None:
                if isinstance(update.event, ev.Disconnected) and "64 MiB" in update.event.reason:
                    drops.append(time.monotonic())

            app.session.add_listener(on_update)
            await wait_until(pilot, lambda: "● connected" in _header(app), timeout=30, what="the header connected")

            # the header as drawn, each time it is drawn: (when, connection state)
            drawn: list[tuple[float, str]] = []
            status_line = app.query_one(StatusLine)
            original_show = status_line.show

            def show(info, *args, **kwargs) -> None:
                drawn.append((time.monotonic(), info.state))
                original_show(info, *args, **kwargs)

            status_line.show = show  # type: ignore[method-assign]

            await wait_until(pilot, lambda: listed(app, LABEL), timeout=20, what="the workflow listed")
            select_workflow(app, LABEL)
            await pilot.press("r")
            await wait_until(pilot, lambda: any("hostile" in (j.label or "") for j in app.session.book.jobs.values()),
                             timeout=30, what="the job queued through the 500 and the stall")
            job = next(j for j in app.session.book.jobs.values() if "hostile" in (j.label or ""))

            # the oversized frame drops the socket; the header must say connected again within 2 s
            await wait_until(pilot, lambda: drops, timeout=40, what="the oversized frame dropping the socket")
            await wait_until(pilot, lambda: any(t > drops[0] and s == "connected" for t, s in drawn)
                             and "● connected" in _header(app), timeout=10, what="the header connected again")
            back = next(t for t, s in drawn if t > drops[0] and s == "connected")
            print(f"header connected again {back - drops[0]:.3f}s after the oversized frame dropped the socket")
            assert back - drops[0] <= RECONNECT_WITHIN_S, f"connected again after {back - drops[0]:.2f}s"

            await wait_until(pilot, lambda: app.session.book.jobs[job.prompt_id].state.finished, timeout=60,
                             what="the job's end")
            done = app.session.book.jobs[job.prompt_id]
            assert done.state == JobState.SUCCESS, (done, hostile.http_faults)
            history = app.query_one(HistoryTable)
            await wait_until(pilot, lambda: job.prompt_id in [str(k.value) for k in history.rows], timeout=10,
                             what="the job in History")

            header = _header(app)
            assert "● connected" in header, header
            count = app.session.malformed_count
            assert count >= SKIPPED_AT_LEAST, app.session.malformed_reason
            assert f"⚠ {count} malformed messages skipped" in header, header

            # the server's log line (ESC c, an OSC title, an 8-bit CSI around it) is in the log pane
            logs = app.query_one(LogPane)
            await wait_until(pilot, lambda: any("log line" in line.plain for line in logs.buffer.matching("", None)),
                             timeout=10, what="the server's log line in the log pane")
            text = screen_text(app)
            assert "log line" in text, "the log line is on screen"
            assert "[red]hostile[bold]" in text, "the job label shows its markup as written"
            for bad in ("\x1b", "\x9b", "\x07"):
                assert bad not in text, f"{bad!r} reached the screen"

            # no worker died, and the connection worker still follows the server
            assert not [e for e in ended if e[1] == WorkerState.ERROR], ended
            assert not [w for w in app.workers if w.state == WorkerState.ERROR], list(app.workers)
            sessions = [w for w in app.workers if w.group == "comfy-session"]
            assert [w.state for w in sessions] == [WorkerState.RUNNING], sessions
            dispatch = [w for w in app.workers if w.group == "dispatch"]
            assert [w.state for w in dispatch] == [WorkerState.RUNNING], "the local-queue dispatcher outlived the 500"
            assert hostile.oversized_sent == 1 and hostile.websocket_sessions >= 2
            assert hostile.injected_frames >= 20, "the malformed burst was sent mid-job"
            assert hostile.elsewhere_requests == [], "a cross-origin redirect was followed"
    finally:
        hostile.stop()


def listed(app: ComfyTuiApp, name: str) -> bool:
    from comfytui.tui.widgets.workflows_pane import WorkflowList

    return any(e.name == name for e in app.query_one(WorkflowList).entries)
