"""The dashboard against a real CPU ComfyUI, driven from the keyboard with Pilot."""

from __future__ import annotations

import httpx
import pytest

from comfytui.core.comfy.jobs import JobState
from comfytui.core.config import Config, ReconnectSettings
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.screens.help import HelpScreen
from comfytui.tui.screens.job import JobScreen
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.preview_pane import PreviewPane
from harness.app import screen_text, select_workflow, wait_until
from harness.comfy import sleep_prompt, unique_seed

pytestmark = pytest.mark.comfy


def bump_seed(app: ComfyTuiApp) -> None:
    """demo-progress.json is bundled with a fixed seed; make each run unique so it is not cached."""
    original = app.queue_workflow

    def queue_with_unique_seed(entry, front=False):
        import json
        import tempfile
        from pathlib import Path

        from comfytui.core.workflows.library import WorkflowEntry

        prompt = json.loads(Path(entry.path).read_text())
        for node in prompt.values():
            if "seed" in node["inputs"]:
                node["inputs"]["seed"] = unique_seed()
        tmp = Path(tempfile.mkdtemp()) / entry.name
        tmp.write_text(json.dumps(prompt))
        return original(WorkflowEntry(entry.name, tmp, entry.source, entry.size, entry.modified), front)

    app.queue_workflow = queue_with_unique_seed  # type: ignore[method-assign]


async def test_queue_a_bundled_workflow_from_the_keyboard(dashboard_config: Config) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        assert "● connected" in screen_text(app)
        assert "ComfyUI 0.3.75" in screen_text(app)
        bump_seed(app)
        select_workflow(app, "demo-progress.json")
        await pilot.press("r")
        await wait_until(pilot, lambda: any(j.state == JobState.RUNNING and j.step > 0 for j in app.session.book.jobs.values()), what="a running job with steps")
        job = next(j for j in app.session.book.jobs.values() if j.label == "demo-progress.json")
        await wait_until(pilot, lambda: "steps" in screen_text(app) and f"/{24}" in screen_text(app), what="the steps bar")
        preview = app.query_one(PreviewPane)
        await wait_until(pilot, lambda: preview.frames_shown > 0, what="a preview frame on screen")
        caption = preview.query_one("#preview-caption")
        await wait_until(pilot, lambda: "node 1 · step " in str(caption.render()), what="the frame's caption with its step")
        await wait_until(pilot, lambda: app.session.book.jobs[job.prompt_id].state == JobState.SUCCESS, timeout=40, what="success")
        history = app.query_one(HistoryTable)
        await wait_until(pilot, lambda: job.prompt_id in [str(k.value) for k in history.rows], what="the job in History")
        done = app.session.book.jobs[job.prompt_id]
        assert done.outputs and done.outputs[0].filename.startswith("demo")
        # the newest job is on top, and an unmoved cursor follows it
        assert history.selected_job_id() == job.prompt_id
        await pilot.press("3", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobScreen), what="the job screen")
        await wait_until(pilot, lambda: app.screen.query_one(PreviewPane).frames_shown > 0, what="the output image")
        assert done.outputs[0].filename in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobScreen), what="closing the job screen")


async def test_a_job_queued_by_another_client_shows_up_marked_foreign(dashboard_config: Config, comfy_server) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        prompt = sleep_prompt(1.5)
        async with httpx.AsyncClient() as other_client:  # another client: no client_id, like curl
            reply = (await other_client.post(f"{comfy_server.url}/prompt", json={"prompt": prompt})).json()
        prompt_id = reply["prompt_id"]
        await wait_until(pilot, lambda: prompt_id in app.session.book.jobs, timeout=2.0, what="the foreign job within 2 s")
        assert app.session.book.jobs[prompt_id].foreign
        await wait_until(pilot, lambda: "foreign" in screen_text(app), timeout=2.0, what="'foreign' on screen")
        await wait_until(pilot, lambda: app.session.book.jobs[prompt_id].state == JobState.SUCCESS, timeout=30, what="the foreign job to finish")
        await wait_until(pilot, lambda: prompt_id in [str(k.value) for k in app.query_one(HistoryTable).rows], what="History row")


async def test_cancel_a_pending_job_and_interrupt_the_running_one(dashboard_config: Config) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        sleeper = sleep_prompt(60)
        running = await app.session.submit(sleeper, label="long sleep")
        waiting = await app.session.submit(sleep_prompt(60), label="waiting")
        await wait_until(pilot, lambda: app.session.book.jobs[running.prompt_id].state == JobState.RUNNING, what=f"the first job running {app.session.book.jobs}")
        await wait_until(pilot, lambda: app.session.book.jobs[waiting.prompt_id].state == JobState.PENDING, what="the second job pending")
        await pilot.press("2")
        await pilot.press("down")
        await pilot.press("c")
        await wait_until(pilot, lambda: app.session.book.jobs[waiting.prompt_id].state == JobState.CANCELLED, what="the pending job cancelled")
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert app.session.book.jobs[running.prompt_id].state == JobState.RUNNING, "n must not interrupt"
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.session.book.jobs[running.prompt_id].state == JobState.INTERRUPTED, what="interrupted")
        await wait_until(pilot, lambda: "interrupted" in screen_text(app), what="'interrupted' in History")


async def test_help_lists_the_keys_and_escape_closes_it(dashboard_config: Config) -> None:
    app = ComfyTuiApp(dashboard_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        text = screen_text(app)
        for words in ("Quit", "Queue the selected workflow", "Interrupt the running job", "command palette"):
            assert words in text, words
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), what="help to close")


async def test_starts_and_stays_usable_when_comfyui_is_unreachable(comfytui_home) -> None:
    from harness.ports import free_port

    port = free_port()  # nothing listens there
    config = Config().with_server(url=f"http://127.0.0.1:{port}").replace(reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.3))
    app = ComfyTuiApp(config)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:  # the reason is a toast
        await wait_until(pilot, lambda: app.session.connection.state == "disconnected", what="the down state")
        text = screen_text(app)
        assert "server down" in text and "connection refused" in text
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help while down")
        await pilot.press("escape")
        await pilot.press("1", "home")  # the Workflows pane, its first workflow highlighted
        await pilot.press("r")  # queueing while down says why instead of crashing
        # A worker that raised would leave no message: the user must see why nothing was queued.
        await wait_until(pilot, lambda: "cannot queue" in screen_text(app), what="the reason queueing failed")
        assert "cannot reach ComfyUI" in screen_text(app)
        assert app.session.book.active() == [], "nothing was tracked as queued"


async def test_killed_server_shows_down_then_reconnects_and_marks_the_job_lost(comfy_server_factory, comfytui_home) -> None:
    import time

    server = comfy_server_factory()
    config = Config().with_server(url=server.url).replace(reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5))
    app = ComfyTuiApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        sleeper = sleep_prompt(120)
        job = await app.session.submit(sleeper, label="doomed")
        await wait_until(pilot, lambda: app.session.book.jobs[job.prompt_id].state == JobState.RUNNING, what="running")
        server.kill()
        killed = time.monotonic()
        await wait_until(pilot, lambda: "server down" in screen_text(app), timeout=2.0, what="'server down' within 2 s")
        assert time.monotonic() - killed < 2.0
        server.restart()
        await wait_until(pilot, lambda: app.session.connection.state == "connected", timeout=30, what="the reconnect")
        await wait_until(pilot, lambda: app.session.book.jobs[job.prompt_id].state == JobState.LOST, what="the job marked lost")
        await wait_until(pilot, lambda: "lost" in screen_text(app), what="'lost' on screen")
        assert app.is_running
