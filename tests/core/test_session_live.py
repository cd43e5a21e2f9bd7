"""ComfySession + ComfyStream against the real CPU ComfyUI: what the dashboard shows for real jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from _live import running_session, wait_until

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from harness.comfy import fail_prompt, progress_prompt, sleep_prompt, unique_seed

pytestmark = pytest.mark.comfy


async def test_progress_job_shows_steps_previews_and_ends_success(comfy_server, comfytui_home: Path) -> None:
    async with running_session(comfy_server.url) as (session, rec, runner):
        await wait_until(lambda: session.features.get("supports_preview_metadata") is True, 5,
                         "the server's answer to the preview-metadata negotiation", runner)
        prompt = progress_prompt(steps=6, delay=0.15, fmt="JPEG", prefix="session_progress")
        prompt["1"]["_meta"] = {"title": "Stepper"}
        job = await session.submit(prompt, label="progress test")
        # on an idle server the job may already have started by the time the POST returns
        assert job.state in (JobState.PENDING, JobState.RUNNING), job.state
        assert not job.foreign and job.label == "progress test"
        async with asyncio.timeout(30):
            (done,) = await session.wait_for([job.prompt_id])

        running = [j for j in rec.snapshots[job.prompt_id] if j.state == JobState.RUNNING and j.node == "1"]
        steps = [j.step for j in running if j.steps == 6]
        assert len(set(steps)) >= 3 and steps == sorted(steps), f"steps should move forward: {steps}"
        assert running[-1].node_title == "Stepper" and running[-1].node_class == "ComfyTUIProgress"
        assert any(j.rate for j in running), "an it/s figure appears while steps come in"

        previews = [p for p in rec.previews() if p.prompt_id == job.prompt_id]
        assert len(previews) >= 3, "one preview frame per step"
        assert all(p.mime == "image/jpeg" and p.image.startswith(b"\xff\xd8") and p.node_id == "1" for p in previews)
        assert len({p.image for p in previews}) > 1, "frames differ as the bar grows"
        assert session.latest_preview is not None and session.latest_preview.prompt_id == job.prompt_id
        assert session.preview_job == job.prompt_id
        texts = [t.text for t in rec.events(ev.ProgressText)]
        assert "step 6/6" in texts

        assert done.state == JobState.SUCCESS and done.nodes_done == done.nodes_total == 2
        (image,) = done.outputs
        assert image.filename.startswith("session_progress") and image.node_id == "2" and image.type == "output"
        assert done.duration_s is not None and 0.5 < done.duration_s < 20
        assert not runner.done()


async def test_failing_job_ends_error_with_message_and_traceback(comfy_server, comfytui_home: Path) -> None:
    message = f"deliberate failure {unique_seed()}"
    async with running_session(comfy_server.url) as (session, _rec, _runner):
        job = await session.submit(fail_prompt(message))
        async with asyncio.timeout(20):
            (done,) = await session.wait_for([job.prompt_id])
    assert done.state == JobState.ERROR
    assert done.error.exception_message == message and done.error.exception_type == "ValueError"
    assert (done.error.node_id, done.error.node_type) == ("1", "ComfyTUIFail")
    assert any("raise ValueError(message)" in frame for frame in done.error.traceback)
    assert done.outputs == ()


async def test_interrupting_a_running_job_ends_interrupted(comfy_server, comfytui_home: Path) -> None:
    async with running_session(comfy_server.url) as (session, _rec, runner):
        job = await session.submit(sleep_prompt(20.0))
        await wait_until(lambda: session.book.get(job.prompt_id).step > 0, 20, "the sleep job to tick", runner)
        assert session.book.running_id == job.prompt_id
        assert await session.cancel(job.prompt_id) == "interrupted"
        async with asyncio.timeout(5):
            (done,) = await session.wait_for([job.prompt_id])
    assert done.state == JobState.INTERRUPTED
    assert done.duration_s is not None and done.duration_s < 10


async def test_cancelling_a_pending_job_ends_cancelled(comfy_server, comfytui_home: Path) -> None:
    async with running_session(comfy_server.url) as (session, _rec, runner):
        blocker = await session.submit(sleep_prompt(20.0))
        waiting = await session.submit(sleep_prompt(0.1))
        await wait_until(
            lambda: session.book.get(blocker.prompt_id).state == JobState.RUNNING
            and session.book.get(waiting.prompt_id).position == 0,
            20, "blocker running, second job first in line", runner,
        )
        assert await session.cancel(waiting.prompt_id) == "cancelled"
        async with asyncio.timeout(5):
            (cancelled,) = await session.wait_for([waiting.prompt_id])
        assert cancelled.state == JobState.CANCELLED and cancelled.started_at is None
        assert session.book.get(blocker.prompt_id).state == JobState.RUNNING, "the running job is untouched"
        await session.interrupt()
        async with asyncio.timeout(5):
            results = await session.wait_for([blocker.prompt_id, waiting.prompt_id])
    assert [j.state for j in results] == [JobState.INTERRUPTED, JobState.CANCELLED]
    assert [j.prompt_id for j in session.book.active()] == []


async def test_a_job_queued_by_another_client_shows_up_foreign_and_settles(comfy_server, comfytui_home: Path) -> None:
    async with running_session(comfy_server.url) as (session, _rec, runner):
        async with httpx.AsyncClient(base_url=comfy_server.url) as other:  # e.g. the web UI or curl
            reply = await other.post("/prompt", json={"prompt": progress_prompt(steps=4, delay=0.2, prefix="foreign")})
        assert reply.status_code == 200, reply.text
        pid = reply.json()["prompt_id"]
        took = await wait_until(lambda: session.book.get(pid) is not None, 2.0, "the foreign job in the book", runner)
        job = session.book.get(pid)
        assert job.foreign and not job.state.finished, job
        assert took < 2.0
        async with asyncio.timeout(20):
            (done,) = await session.wait_for([pid])
    assert done.state == JobState.SUCCESS and done.foreign
    assert [o.filename.startswith("foreign") for o in done.outputs] == [True]
    assert done.client_id is None


async def test_wait_for_returns_at_once_for_finished_jobs(comfy_server, comfytui_home: Path) -> None:
    async with running_session(comfy_server.url) as (session, _rec, _runner):
        a = await session.submit(progress_prompt(steps=1, delay=0.0, save=False))
        b = await session.submit(progress_prompt(steps=2, delay=0.0, save=False))
        async with asyncio.timeout(20):
            first = await session.wait_for([a.prompt_id, b.prompt_id])
        assert [j.state for j in first] == [JobState.SUCCESS, JobState.SUCCESS]
        assert first[1].outputs and first[1].outputs[0].type == "temp", "PreviewImage outputs are temp files"
        async with asyncio.timeout(0.5):
            again = await session.wait_for([b.prompt_id])
        assert again == [session.book.get(b.prompt_id)]
