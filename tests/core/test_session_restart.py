"""A ComfyUI that dies under a running job: the session says so, waits, reconnects by itself,
marks the job it lost, and the journal keeps the finished jobs the restarted server forgot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from _live import running_session, wait_until

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from comfytui.core.comfy.journal import Journal
from harness.comfy import progress_prompt, sleep_prompt

pytestmark = pytest.mark.comfy


async def test_kill_and_restart_reconnects_marks_lost_and_the_journal_remembers(
    comfy_server_factory, comfytui_home: Path
) -> None:
    server = comfy_server_factory()
    async with running_session(server.url) as (session, rec, runner):
        finished = await session.submit(progress_prompt(steps=2, delay=0.0, prefix="before_crash"), label="kept")
        async with asyncio.timeout(20):
            (finished,) = await session.wait_for([finished.prompt_id])
        assert finished.state == JobState.SUCCESS

        sleeper = await session.submit(sleep_prompt(60.0), label="doomed")
        await wait_until(lambda: session.book.get(sleeper.prompt_id).step > 0, 20, "the sleep job to tick", runner)

        killed_at = time.monotonic()
        await asyncio.to_thread(server.kill)
        await wait_until(lambda: session.connection.state == "disconnected", 2.0, "state 'disconnected'", runner)
        assert time.monotonic() - killed_at < 2.0
        (first_down, *_) = rec.events(ev.Disconnected)
        assert first_down.url == server.url and first_down.retry_in_s is not None and first_down.retry_in_s <= 0.5
        assert session.connection.reason, "the status bar has a reason to show"
        assert not runner.done(), "no exception escapes run()"
        assert session.book.get(sleeper.prompt_id).state == JobState.RUNNING, "not judged before the server is back"

        await asyncio.sleep(1.0)  # several refused reconnects while the server is down
        assert not runner.done()
        assert len(rec.events(ev.Disconnected)) >= 2
        assert all(d.retry_in_s <= 0.5 for d in rec.events(ev.Disconnected)), "the configured max delay holds"

        await asyncio.to_thread(server.restart)
        await wait_until(lambda: any(c.reconnect for c in rec.events(ev.Connected)), 10,
                         "Connected(reconnect=True)", runner)
        assert session.connection.state == "connected" and session.connection.version == "0.3.75"
        await wait_until(lambda: session.book.get(sleeper.prompt_id).state == JobState.LOST, 5,
                         "the old job marked lost", runner)
        assert session.book.get(finished.prompt_id).state == JobState.SUCCESS
        assert session.book.running_id is None

        # The restarted server works: a new job runs and finishes.
        after = await session.submit(progress_prompt(steps=1, delay=0.0, prefix="after_crash"))
        async with asyncio.timeout(20):
            (after,) = await session.wait_for([after.prompt_id])
        assert after.state == JobState.SUCCESS

    # A later comfytui (same COMFYTUI_HOME) still knows what happened, though the server forgot.
    async with running_session(server.url) as (later, _rec, _runner):
        history_ids = {h.prompt_id for h in await later.client.history()}
        assert finished.prompt_id not in history_ids and sleeper.prompt_id not in history_ids
        kept = later.book.get(finished.prompt_id)
        assert kept is not None and kept.state == JobState.SUCCESS and kept.label == "kept"
        assert [o.filename for o in kept.outputs] == [o.filename for o in finished.outputs]
        lost = later.book.get(sleeper.prompt_id)
        assert lost is not None and lost.state == JobState.LOST and lost.label == "doomed"
        assert later.book.get(after.prompt_id).state == JobState.SUCCESS
        assert not kept.foreign and not lost.foreign
    records = {r.prompt_id: r for r in Journal().records(server.url)}
    assert records[finished.prompt_id].state == "success" and records[sleeper.prompt_id].state == "lost"


async def test_session_against_a_dead_url_keeps_retrying_without_raising(comfytui_home: Path) -> None:
    from _live import Recorder, session_config

    from comfytui.core.comfy.session import ComfySession

    session = ComfySession(session_config("http://127.0.0.1:9"))
    rec = Recorder(session)
    session.add_listener(rec)
    runner = asyncio.create_task(session.run())
    try:
        await wait_until(lambda: len(rec.events(ev.Disconnected)) >= 3, 5, "three reconnect attempts", runner)
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await session.aclose()
    downs = rec.events(ev.Disconnected)
    assert [d.attempt for d in downs[:3]] == [1, 2, 3]
    assert "refused" in downs[0].reason
    assert session.connection.state == "disconnected"
