"""The Queue pane over a fleet (a server column, History's filter words) and History in a dashboard
that does not dispatch (a real ``comfytui daemon`` holds the lock), against real CPU ComfyUI servers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import time
from pathlib import Path

import httpx
import pytest

from comfytui.core.config import Config, QueueSettings
from comfytui.core.queue import ops
from comfytui.core.queue.dispatcher import Dispatcher
from comfytui.core.queue.fleet import pool_key
from comfytui.core.store.db import StoredJob, new_job_id
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.queue_pane import QueuePane
from harness.app import screen_text, wait_until
from harness.comfy import sleep_prompt
from tui_fleet.conftest import member as fleet_member

pytestmark = pytest.mark.comfy


def member(url: str) -> Config:
    return fleet_member(url, queue=QueueSettings(dispatch_depth=0, heartbeat_s=0.5, stale_after_s=5.0))


def shown(pane: QueuePane) -> dict[str, tuple[str, str, str]]:
    """The table's rows as the user reads them: label → (state, server, position)."""
    table = pane.table
    rows = {}
    for key in table.rows:
        cells = [str(getattr(c, "plain", c)) for c in table.get_row(key)]
        rows[cells[5]] = (cells[2], cells[3], cells[1])
    return rows


async def test_queue_pane_names_each_jobs_server_and_filters_by_it(two_servers) -> None:
    a, b = two_servers
    servers = [("alpha", member(a.url)), ("beta", member(b.url))]
    app = ComfyTuiApp(servers[0][1], servers=servers)
    async with app.run_test(size=(140, 44), notifications=True) as pilot:
        await wait_until(pilot, lambda: getattr(app, "dispatch", None) is not None and app.dispatch.ours, what="the dashboard dispatching to alpha")
        store = app.services.store
        assert store is not None
        # beta's jobs go out through beta's own dispatcher (as a fleet daemon would), into the same store
        beta = asyncio.create_task(Dispatcher(servers[1][1], store=store).run())
        try:
            done = {"alpha": new_job_id(), "beta": new_job_id()}
            await ops.enqueue(store, [
                StoredJob(id=done["alpha"], server=a.url, label="done-alpha", prompt=sleep_prompt(0)),
                StoredJob(id=done["beta"], server=b.url, label="done-beta", prompt=sleep_prompt(0)),
                StoredJob(id=new_job_id(), server=a.url, label="on-alpha", prompt=sleep_prompt(12)),
                StoredJob(id=new_job_id(), server=b.url, label="on-beta", prompt=sleep_prompt(12)),
                StoredJob(id=new_job_id(), server=pool_key([a.url, b.url]), label="anywhere", prompt=sleep_prompt(1), held=True),
            ])
            pane = app.query_one(QueuePane)
            await wait_until(pilot, lambda: shown(pane).get("on-alpha", ("",))[0] == "running"
                             and shown(pane).get("on-beta", ("",))[0] == "running", timeout=30, what="a job running on each server")
            rows = shown(pane)
            assert rows["on-alpha"] == ("running", "alpha", "run")
            assert rows["on-beta"] == ("running", "beta", "run")
            assert rows["anywhere"] == ("held", "any", "1")
            # History's filter words and key: / then server:NAME narrows to that server's jobs
            await pilot.press("2", "slash")
            for key in "server:beta":
                await pilot.press(key if key != ":" else "colon")
            await pilot.press("enter")
            await wait_until(pilot, lambda: list(shown(pane)) == ["on-beta"], what="only beta's job")
            assert "/server:beta · 1 of 3" in screen_text(app)
            pane.apply_filter("status:held")
            assert list(shown(pane)) == ["anywhere"]
            pane.apply_filter("")
            assert set(shown(pane)) == {"on-alpha", "on-beta", "anywhere"}
            # History names each finished job's server the same way and filters by name too
            history = app.query_one(HistoryTable)
            await wait_until(pilot, lambda: set(done.values()) <= set(history.rows), timeout=20, what="both quick jobs in History")
            assert {name: str(history.get_row(pid)[6]) for name, pid in done.items()} == {"alpha": "alpha", "beta": "beta"}
            history.apply_filter("server:beta")
            await wait_until(pilot, lambda: done["beta"] in history.rows and done["alpha"] not in history.rows,
                             what="History narrowed to beta's jobs")
            # a job running on another server than the current one is cancelled there, not here
            pane.table.move_cursor(row=pane.table.get_row_index(next(r.id for r in pane.rows if r.label.plain == "on-beta")))
            await pilot.press("c")
            await wait_until(pilot, lambda: "make it the current server" in screen_text(app), what="why it cannot be cancelled from alpha")
        finally:
            beta.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beta


async def test_queue_pane_server_column_fits_80x24(two_servers) -> None:
    a, b = two_servers
    servers = [("alpha", member(a.url)), ("a-very-long-server-name", member(b.url))]
    app = ComfyTuiApp(servers[0][1], servers=servers)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: getattr(app, "dispatch", None) is not None, what="the store")
        await pilot.press("2", "p")  # paused: the jobs stay in the local queue
        await wait_until(pilot, lambda: "queue paused" in screen_text(app), what="paused")
        store = app.services.store
        await ops.enqueue(store, [StoredJob(id=new_job_id(), server=b.url, label="far-job", prompt=sleep_prompt(1))])
        pane = app.query_one(QueuePane)
        await wait_until(pilot, lambda: "far-job" in shown(pane), what="the job pinned to the other server")
        assert shown(pane)["far-job"][1] == "a-very-long…"
        text = screen_text(app)
        assert "a-very-long…" in text and "far-job" in text, text


def _daemon_class():
    """tests/queue/_cli.py's Daemon (a real ``comfytui daemon`` subprocess); loaded by path, as
    ``queue`` is also the standard library's module."""
    path = Path(__file__).resolve().parents[1] / "queue" / "_cli.py"
    spec = importlib.util.spec_from_file_location("queue_cli_for_tui_fleet", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Daemon


async def test_dashboard_beside_a_daemon_shows_a_fast_foreign_job_in_history(comfy_server, comfytui_home) -> None:
    daemon = await asyncio.to_thread(_daemon_class()(comfy_server.url, comfytui_home).start)
    try:
        app = ComfyTuiApp(member(comfy_server.url))
        async with app.run_test(size=(140, 44)) as pilot:
            await wait_until(pilot, lambda: app.session.connection.state == "connected", what="connected")
            await wait_until(pilot, lambda: getattr(app, "dispatch", None) is not None and app.dispatch.holder is not None, what="the daemon seen as the dispatcher")
            assert not app.dispatch.ours and f"pid {daemon.proc.pid}" in app.dispatch.line
            history = app.query_one(HistoryTable)
            async with httpx.AsyncClient() as other:
                answer = await other.post(f"{comfy_server.url}/prompt", json={"prompt": sleep_prompt(0), "client_id": "someone-else"})
            pid = answer.json()["prompt_id"]
            posted = time.monotonic()
            await wait_until(pilot, lambda: pid in history.jobs, timeout=3.0, what="the foreign job in History within 3 s")
            assert history.jobs[pid].foreign and history.jobs[pid].state == "success"
            assert time.monotonic() - posted < 3.0
    finally:
        await asyncio.to_thread(daemon.stop)
    assert "Traceback" not in daemon.log.read_text()
