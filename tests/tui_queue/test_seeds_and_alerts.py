"""Seeds like the frontend on ``r``, and the bell / desktop notification for a job that ends
while the user looks elsewhere."""

from __future__ import annotations

import random

import pytest

from comfytui.core.config import NotifySettings
from comfytui.core.queue.submit import frontend_seeds
from comfytui.core.store.db import StoredJob
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.terminal_notify import job_end_output
from harness.app import wait_until
from harness.comfy import fail_prompt
from tui_queue.conftest import queue_config


def editor(control: str) -> dict:
    return {"nodes": [{"id": 3, "type": "KSampler", "widgets_values": [5, control, 20, 8.0, "euler", "normal", 1.0]}], "links": []}


PROMPT = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}}}


def test_each_r_gets_a_new_seed_the_way_the_frontend_control_says() -> None:
    first, notes = frontend_seeds(PROMPT, editor("increment"), None, None)
    assert first["3"]["inputs"]["seed"] == 5 and not notes, "the first queueing uses the saved seed"
    last = StoredJob(id="x", server="s", prompt=first)
    second, notes = frontend_seeds(PROMPT, editor("increment"), None, last)
    assert second["3"]["inputs"]["seed"] == 6 and "increment" in notes[0]
    third, _ = frontend_seeds(PROMPT, editor("decrement"), None, StoredJob(id="y", server="s", prompt=second))
    assert third["3"]["inputs"]["seed"] == 5
    drawn, _ = frontend_seeds(PROMPT, editor("randomize"), None, last, random.Random(1))
    assert drawn["3"]["inputs"]["seed"] != 5
    fixed, notes = frontend_seeds(PROMPT, editor("fixed"), None, last)
    assert fixed["3"]["inputs"]["seed"] == 5 and not notes
    api_only, _ = frontend_seeds(PROMPT, None, None, last)
    assert api_only == PROMPT, "an API-format workflow keeps its seeds"


def test_failures_ring_and_notify_by_default_successes_do_not_and_tmux_gets_passthrough() -> None:
    settings = NotifySettings()
    failed = job_end_output(settings, "error", "comfytui", "render: error", env={})
    assert failed.startswith("\a") and "\x1b]9;comfytui: render: error\x07" in failed and "\x1b]777;notify;comfytui;render: error\x07" in failed
    assert job_end_output(settings, "success", "comfytui", "render: success", env={}) == ""
    wrapped = job_end_output(settings, "error", "comfytui", "bad\x1b]label;x", env={"TMUX": "/tmp/tmux-1/default,1,0"})
    assert "\x1bPtmux;\x1b\x1b]9;" in wrapped and wrapped.endswith("\x1b\\")
    assert "\x1b]label" not in wrapped, "a label cannot end or inject an escape sequence"
    loud = NotifySettings(bell=["success"], desktop=[])
    assert job_end_output(loud, "success", "comfytui", "done", env={}) == "\a"


@pytest.mark.comfy
async def test_a_job_failing_while_the_terminal_is_unfocused_gets_the_bell_and_a_toast(comfy_server, comfytui_home) -> None:
    app = ComfyTuiApp(queue_config(comfy_server.url))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        app.app_focus = False  # the user switched to another window
        job = await app.session.submit(fail_prompt(f"boom {random.random()}"), label="doomed")
        await wait_until(pilot, lambda: any(pid == job.prompt_id for pid, _, _ in getattr(app, "alerts_sent", [])), timeout=30, what="the alert")
        pid, state, output = next(a for a in app.alerts_sent if a[0] == job.prompt_id)
        assert state == "error" and output.startswith("\a") and "doomed: error" in output
        await wait_until(pilot, lambda: any("doomed failed" in (n.title or "") for n in app._notifications), what="the failure toast")
