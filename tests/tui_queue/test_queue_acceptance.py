"""Acceptance tests of the local queue in the dashboard (issue 9), against the real CPU ComfyUI:
lost jobs requeued with one key, and a fast job of another client seen in History."""

from __future__ import annotations

import time

import pytest

from comfytui.core.config import QueueSettings
from comfytui.core.store.db import open_store
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.queue_pane import QueuePane
from harness.app import screen_text, wait_until
from tui_queue.conftest import pause_and_queue, queue_config, runs_by_seed, write_flows

pytestmark = pytest.mark.comfy


def history_rows(app: ComfyTuiApp) -> dict[str, list[str]]:
    """The History table as shown: job id -> the plain text of its cells."""
    table = app.query_one(HistoryTable)
    rows = {}
    for index in range(table.row_count):
        key = table.coordinate_to_cell_key((index, 0)).row_key.value
        rows[str(key)] = [getattr(cell, "plain", str(cell)) for cell in table.get_row_at(index)]
    return rows


async def test_requeue_lost_queues_a_new_job_for_each_lost_one_and_they_succeed(comfy_server_factory, comfytui_home, flows) -> None:
    server = comfy_server_factory()
    names = ["zq-lost-1.json", "zq-lost-2.json"]
    seeds = write_flows(flows, names, seconds=4.0)
    config = queue_config(server.url, flows)
    # depth 1: one job running and one pending on the server when it dies; both are lost
    config = config.replace(queue=QueueSettings(dispatch_depth=1, heartbeat_s=0.5, stale_after_s=5.0))
    app = ComfyTuiApp(config)
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await pause_and_queue(pilot, app, names)
        await pilot.press("2", "p")
        await wait_until(pilot, lambda: "queue resumed" in screen_text(app), what="resumed")
        store = open_store()  # the dashboard's store file, read on its own connection
        await wait_until(
            pilot, lambda: sorted(r.kind for r in app.query_one(QueuePane).rows) == ["pending", "running"],
            timeout=30, what="one job running and one pending on the server",
        )
        originals = [r.id for r in app.query_one(QueuePane).rows]
        server.kill()
        await wait_until(pilot, lambda: "server down" in screen_text(app), timeout=5, what="'server down'")
        server.restart()
        await wait_until(pilot, lambda: app.session.connection.state == "connected", timeout=60, what="the reconnect")
        await wait_until(
            pilot, lambda: all((job := store.get(i)) is not None and job.state == "lost" for i in originals),
            timeout=20, what=f"both jobs marked lost: {[(store.get(i).state if store.get(i) else None) for i in originals]}",
        )
        await wait_until(pilot, lambda: [history_rows(app).get(i, ["", ""])[1] for i in originals] == ["lost", "lost"], what="both lost in History")
        assert runs_by_seed(server.url) == [], "the restarted server ran something already"
        await pilot.press("2", "L")
        await wait_until(pilot, lambda: "requeued 2 lost job(s)" in screen_text(app), what="the requeue message")
        await wait_until(
            pilot, lambda: sorted(s for _, s in runs_by_seed(server.url)) == sorted(seeds.values()), timeout=60, what="both copies to run"
        )
        await wait_until(pilot, lambda: not app.query_one(QueuePane).rows, timeout=20, what="an empty queue")
        await pilot.pause(1.0)
        ran = [s for _, s in runs_by_seed(server.url)]
        assert sorted(ran) == sorted(seeds.values()), f"a lost job ran twice or not at all: {ran}"
        rows = history_rows(app)
        copies = [i for i, cells in rows.items() if i not in originals and cells[1].startswith("success") and cells[2] in names]
        assert sorted(rows[i][2] for i in copies) == sorted(names), f"History: {rows}"
        assert [rows[i][1] for i in originals] == ["lost", "lost"], "the lost jobs themselves stay lost"


async def test_a_fast_job_of_another_client_shows_in_history_within_three_seconds(comfy_server, comfytui_home) -> None:
    import httpx

    from harness.comfy import sleep_prompt

    app = ComfyTuiApp(queue_config(comfy_server.url))
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", timeout=30, what="the connection")
        await wait_until(pilot, lambda: app.dispatch is not None and app.dispatch.ours, what="the dashboard dispatching")
        async with httpx.AsyncClient() as other:
            answer = await other.post(f"{comfy_server.url}/prompt", json={"prompt": sleep_prompt(0.05), "client_id": "curl-user"})
        posted = time.monotonic()
        prompt_id = answer.json()["prompt_id"]
        await wait_until(pilot, lambda: prompt_id in history_rows(app), timeout=3.0, what="the other client's job in History within 3 s")
        assert time.monotonic() - posted < 3.0
        async with httpx.AsyncClient() as other:
            entry = (await other.get(f"{comfy_server.url}/history/{prompt_id}")).json()[prompt_id]
        messages = {kind: data for kind, data in entry["status"]["messages"]}
        took = (messages["execution_success"]["timestamp"] - messages["execution_start"]["timestamp"]) / 1000
        assert took < 1.0, f"the job took {took:.2f}s, not a fast one"
        await wait_until(pilot, lambda: history_rows(app)[prompt_id][1].startswith("success"), what="shown as success")
        assert "foreign" in history_rows(app)[prompt_id][-1]
