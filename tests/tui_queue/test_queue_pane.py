"""The Queue pane and History over the local queue, against the real CPU ComfyUI, with Pilot."""

from __future__ import annotations

import re
import time

import pytest

from comfytui.core.store.db import StoredJob
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.history_pane import HISTORY_ROWS, HistoryTable
from comfytui.tui.widgets.queue_pane import QueuePane
from harness.app import screen_text, wait_until
from tui_queue.conftest import local_rows, pause_and_queue, queue_config, runs_by_seed, write_flows

pytestmark = pytest.mark.comfy



async def test_queue_pane_reorders_holds_prioritises_and_cancels_local_jobs(comfy_server, comfytui_home, flows) -> None:
    names = ["zq-a.json", "zq-b.json", "zq-c.json"]
    seeds = write_flows(flows, names)
    app = ComfyTuiApp(queue_config(comfy_server.url, flows))
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await pause_and_queue(pilot, app, names)
        assert "dispatch: this dashboard" in screen_text(app), "who dispatches, on screen"
        assert local_rows(app) == [(n, "local") for n in names]
        table = app.query_one(QueuePane).table
        await pilot.press("2")
        table.move_cursor(row=2)  # zq-c
        await pilot.press("K")
        await wait_until(pilot, lambda: [n for n, _ in local_rows(app)] == ["zq-a.json", "zq-c.json", "zq-b.json"], what="c moved up")
        table.move_cursor(row=2)  # zq-b
        await pilot.press("plus")
        await wait_until(pilot, lambda: [n for n, _ in local_rows(app)] == ["zq-b.json", "zq-a.json", "zq-c.json"], what="b first at high priority")
        assert "▲" in screen_text(app)
        table.move_cursor(row=1)  # zq-a
        await pilot.press("h")
        await wait_until(pilot, lambda: ("zq-a.json", "held") in local_rows(app), what="a held")
        table.move_cursor(row=2)  # zq-c
        await pilot.press("c")
        await wait_until(pilot, lambda: "zq-c.json" not in [n for n, _ in local_rows(app)], what="c cancelled")
        await pilot.press("p")  # resume: b runs; a is held; c never
        await wait_until(pilot, lambda: seeds["zq-b.json"] in [s for _, s in runs_by_seed(comfy_server.url)], timeout=40, what="b to run")
        await wait_until(pilot, lambda: local_rows(app) == [("zq-a.json", "held")], timeout=20, what="only the held job left")
        await pilot.pause(1.5)
        ran = [s for _, s in runs_by_seed(comfy_server.url)]
        assert seeds["zq-a.json"] not in ran, "a held job was sent"
        table.move_cursor(row=0)
        await pilot.press("h")  # release: it goes out
        await wait_until(pilot, lambda: seeds["zq-a.json"] in [s for _, s in runs_by_seed(comfy_server.url)], timeout=40, what="a to run once released")
        ran = [s for _, s in runs_by_seed(comfy_server.url)]
        assert ran.index(seeds["zq-b.json"]) < ran.index(seeds["zq-a.json"])
        assert seeds["zq-c.json"] not in ran, "a cancelled job ran"
        assert ran.count(seeds["zq-a.json"]) == 1 and ran.count(seeds["zq-b.json"]) == 1, "a job was sent twice"


async def test_editing_a_held_job_queues_the_edit_in_its_place(comfy_server, comfytui_home, flows) -> None:
    from comfytui.tui.screens.workflow_form import WorkflowFormScreen
    from harness.comfy import unique_seed

    names = ["zq-a.json", "zq-b.json", "zq-c.json"]
    seeds = write_flows(flows, names, seconds=0.2)
    edited_seed = unique_seed()
    app = ComfyTuiApp(queue_config(comfy_server.url, flows))
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await pause_and_queue(pilot, app, names)
        table = app.query_one(QueuePane).table
        await pilot.press("2")
        table.move_cursor(row=1)  # zq-b
        await pilot.press("h")
        await wait_until(pilot, lambda: ("zq-b.json", "held") in local_rows(app), what="b held")
        original = app.query_one(QueuePane).rows[1].id
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, WorkflowFormScreen) and app.screen.ready, what="the form")
        form = app.screen
        seed_field = next(f for f in form.fields if f.param.node_id == "1" and f.param.input_name == "seed")
        form.query_one(f"#{seed_field.widget_id}").focus()
        await pilot.press("end", "ctrl+u", *str(edited_seed), "f10")
        await wait_until(pilot, lambda: not isinstance(app.screen, WorkflowFormScreen), what="the form to queue and close")
        await wait_until(pilot, lambda: original not in [r.id for r in app.query_one(QueuePane).rows], what="the held original replaced")
        assert [kind for _, kind in local_rows(app)] == ["local"] * 3
        assert [label for label, _ in local_rows(app)][0::2] == ["zq-a.json", "zq-c.json"], "the edit sits between a and c"
        assert "took the place of the held job" in screen_text(app)
        assert app.services.store.get(original).state == "cancelled"
        await pilot.press("p")  # resume: a, the edit, c
        want = [seeds["zq-a.json"], edited_seed, seeds["zq-c.json"]]
        await wait_until(pilot, lambda: [s for _, s in runs_by_seed(comfy_server.url) if s in want] == want, timeout=40,
                         what="a, the edited b and c to run in that order")
        assert seeds["zq-b.json"] not in [s for _, s in runs_by_seed(comfy_server.url)], "the held original ran"


async def test_foreign_and_server_jobs_cannot_be_reordered_and_say_why(comfy_server, comfytui_home, flows) -> None:
    import httpx

    from harness.comfy import sleep_prompt

    app = ComfyTuiApp(queue_config(comfy_server.url, flows))
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        async with httpx.AsyncClient() as other:
            first = (await other.post(f"{comfy_server.url}/prompt", json={"prompt": sleep_prompt(3)})).json()["prompt_id"]
            second = (await other.post(f"{comfy_server.url}/prompt", json={"prompt": sleep_prompt(3)})).json()["prompt_id"]
        await wait_until(pilot, lambda: (second, "foreign") in [(r.id, r.kind) for r in app.query_one(QueuePane).rows], what="the foreign pending job")
        pane = app.query_one(QueuePane)
        await pilot.press("2")
        pane.table.move_cursor(row=[r.id for r in pane.rows].index(second))
        await pilot.press("K")
        await wait_until(pilot, lambda: "belongs to another client" in screen_text(app), what="the refusal")
        await pilot.press("c")  # but it can be cancelled
        await wait_until(pilot, lambda: second not in [r.id for r in pane.rows], what="the foreign job cancelled")
        async with httpx.AsyncClient() as other:
            history = (await other.get(f"{comfy_server.url}/history/{second}")).json()
        assert second not in history, "the cancelled foreign job ran"
        await wait_until(pilot, lambda: first not in [r.id for r in pane.rows], timeout=20, what="the first foreign job to end")


async def test_history_shows_the_newest_of_ten_thousand_jobs_filters_all_of_them_and_scrolls(comfy_server, comfytui_home) -> None:
    from comfytui.core.store.db import open_store

    store = open_store()
    now = time.time()
    jobs = [
        StoredJob(id=f"{i:08d}-0000-4000-8000-000000000000", server=comfy_server.url, state="error" if i % 10 == 0 else "success",
                  label=f"render-{i}.json", created_at=now - 100_000 + i, started_at=now - 100_000 + i, ended_at=now - 99_999 + i,
                  outputs=[[f"out_{i}.png", "", "output", "9", "images"]],
                  error={"exception_type": "RuntimeError", "exception_message": f"boom {i}"} if i % 10 == 0 else None)
        for i in range(10_000)
    ]
    store.add(jobs)
    app = ComfyTuiApp(queue_config(comfy_server.url))
    async with app.run_test(size=(160, 50)) as pilot:
        history = app.query_one(HistoryTable)
        # the newest HISTORY_ROWS of them (a row costs memory); the filter below searches all 10,000
        await wait_until(pilot, lambda: history.row_count == HISTORY_ROWS, timeout=30, what=f"{HISTORY_ROWS} rows")
        # of 10,000 and then some: the shared server's own history (other tests' jobs) is recorded too
        shown = re.search(rf"newest {HISTORY_ROWS:,} of ([\d,]+)", screen_text(app))
        assert shown and int(shown.group(1).replace(",", "")) >= 10_000, "the title names how many there are"
        top = history.jobs[history.selected_job_id()]
        assert top.ended_at >= jobs[-1].ended_at, "newest first"
        await pilot.press("3")
        started = time.monotonic()
        for _ in range(20):
            await pilot.press("pagedown")
        assert history.cursor_row >= 20, "page down did not move through the rows"
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: history.cursor_row == history.row_count - 1, what="the last row")
        assert time.monotonic() - started < 10, "scrolling the rows is slow"
        last = history.jobs[history.selected_job_id()]
        await wait_until(pilot, lambda: last.label in screen_text(app), what="the oldest job on screen")
        await pilot.press("slash")
        await pilot.press(*"render-42")
        await pilot.press("enter")
        # render-42, render-420..429, render-4200..4299: 111 jobs, every tenth an error
        await wait_until(pilot, lambda: history.row_count == 111, what="the text filter")
        assert all("render-42" in history.jobs[str(k.value)].label for k in history.rows)
        assert "/render-42" in screen_text(app)
        await pilot.press("f")  # status: success only
        await wait_until(pilot, lambda: history.status_filter == "success" and history.row_count == 100, what="success only")
        await pilot.press("f")  # error only
        await wait_until(pilot, lambda: history.status_filter == "error" and history.row_count == 11, what="error only")
        assert "boom 4290" in screen_text(app)
