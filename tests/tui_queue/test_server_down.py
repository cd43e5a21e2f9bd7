"""Jobs queued in the dashboard while ComfyUI is down wait in the local queue and go out, in
order and once each, when it is back on the same port."""

from __future__ import annotations

import pytest

from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.queue_pane import QueuePane
from harness.app import screen_text, select_workflow, wait_until
from tui_queue.conftest import queue_config, runs_by_seed, write_flows

pytestmark = pytest.mark.comfy


async def test_jobs_queued_while_the_server_is_down_go_out_when_it_is_back(comfy_server_factory, comfytui_home, flows) -> None:
    server = comfy_server_factory()
    names = ["zq-warm.json", "zq-down-1.json", "zq-down-2.json"]
    seeds = write_flows(flows, names, seconds=0.5)
    app = ComfyTuiApp(queue_config(server.url, flows))
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        await wait_until(pilot, lambda: app.dispatch is not None and app.dispatch.ours, what="the dashboard dispatching")
        select_workflow(app, "zq-warm.json")
        await pilot.press("r")  # while up: the server's node list is cached for later
        await wait_until(pilot, lambda: seeds["zq-warm.json"] in [s for _, s in runs_by_seed(server.url)], timeout=40, what="the first job")
        server.stop()
        await wait_until(pilot, lambda: "server down" in screen_text(app), timeout=10, what="'server down'")
        for name in names[1:]:
            select_workflow(app, name)
            await pilot.press("r")
            await wait_until(pilot, lambda n=name: (n, "local") in [(r.label.plain, r.kind) for r in app.query_one(QueuePane).rows], what=f"{name} waiting locally")
        server.start()
        await wait_until(pilot, lambda: app.session.connection.state == "connected", timeout=60, what="the reconnect")
        await wait_until(
            pilot, lambda: all(seeds[n] in [s for _, s in runs_by_seed(server.url)] for n in names[1:]), timeout=60, what="both jobs to run"
        )
        await pilot.pause(1.0)
        ran = [s for _, s in runs_by_seed(server.url)]
        assert ran == [seeds["zq-down-1.json"], seeds["zq-down-2.json"]], f"order or duplicates wrong: {ran}"
        await wait_until(pilot, lambda: not app.query_one(QueuePane).rows, what="an empty queue")
