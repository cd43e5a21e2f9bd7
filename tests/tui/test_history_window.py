"""The History pane holds the newest ``HISTORY_ROWS`` matching jobs (issue 12: its rows were most
of a long-running dashboard's memory), says so in its title, and its filter still finds any job
in the store. The server is a closed port: the rows come from the store alone."""

from __future__ import annotations

import time

from comfytui.core.config import Config, ReconnectSettings
from comfytui.core.store.db import StoredJob, new_job_id, open_store, server_key
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.history_pane import HISTORY_ROWS, HistoryPane, HistoryTable
from harness.app import screen_text, wait_until

STORED = HISTORY_ROWS + 500


def closed_port_url() -> str:
    from harness.ports import free_port

    return f"http://127.0.0.1:{free_port()}"


async def test_history_shows_the_newest_jobs_and_its_filter_searches_the_whole_store(comfytui_home) -> None:
    url = closed_port_url()
    store = open_store()  # the process's store, the app's too: left open
    now = time.time()
    for i in range(STORED):  # job 0 is the newest
        store.upsert(StoredJob(
            id=new_job_id(), server=server_key(url), state="error" if i % 10 == 0 else "success", label=f"wf {i}",
            client_id="comfytui-test", ended_at=now - i * 60, started_at=now - i * 60 - 1 - i % 7,
        ))
    config = Config().with_server(url=url).replace(reconnect=ReconnectSettings(base_delay_s=0.5, max_delay_s=1.0))
    app = ComfyTuiApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(HistoryTable)
        pane = app.query_one(HistoryPane)
        await wait_until(pilot, lambda: table.row_count == HISTORY_ROWS, what=f"{HISTORY_ROWS} rows in History")
        labels = [table.get_row_at(i)[2].plain for i in (0, HISTORY_ROWS - 1)]
        assert labels == ["wf 0", f"wf {HISTORY_ROWS - 1}"], "not the newest jobs, newest first"
        assert pane.border_title == f"History [3] · newest {HISTORY_ROWS:,} of {STORED:,}"
        # End and Home go to the last and the first row, with the status column still in view
        await pilot.press("3", "end")
        assert table.cursor_row == HISTORY_ROWS - 1 and table.scroll_x == 0
        assert f"wf {HISTORY_ROWS - 1}" in screen_text(app)
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_x == 0
        # sorting orders the jobs shown: the oldest of them first, the newest still there
        await pilot.press("S")
        await wait_until(pilot, lambda: table.sort == "oldest" and table.get_row_at(0)[2].plain == f"wf {HISTORY_ROWS - 1}", what="sorted by oldest")
        assert "by oldest" in pane.border_title and table.row_count == HISTORY_ROWS
        for _ in range(4):  # back to newest
            await pilot.press("S")
        # an old job beyond the rows shown is found by the filter
        old = f"wf {STORED - 1}"
        await pilot.press("slash", *old)
        await wait_until(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[2].plain == old, what=f"{old!r} found")
        assert pane.border_title == f"History [3] · 1 · /{old}"
        # a status filter over the whole store, still capped
        await pilot.press("ctrl+u", *"status:error")
        errors = (STORED + 9) // 10
        await wait_until(pilot, lambda: table.row_count == errors, what="the error jobs")
        assert pane.border_title == f"History [3] · {errors} · /status:error"
