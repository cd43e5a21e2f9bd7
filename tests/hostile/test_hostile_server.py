"""A hostile ComfyUI look-alike (tests/hostile/hostile_comfy.py) in front of the real CPU ComfyUI:
malformed frames of every kind mid-job, an oversized frame, 500s, a stall, a truncated body and a
cross-origin redirect. The session must keep going, the job must end, and ``comfytui run --wait``
must exit 0 without a traceback or a terminal escape reaching the user."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hostile_comfy import HostileComfy

from comfytui.core.comfy.jobs import JobState
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.config import Config, ReconnectSettings
from harness.comfy import progress_prompt, sleep_prompt

pytestmark = pytest.mark.comfy

COMFYTUI = Path(sys.executable).with_name("comfytui")
SKIPPED_AT_LEAST = 15
"""Frames of ``malformed_frames`` that are malformed (the rest are unknown types, kept)."""


@contextlib.asynccontextmanager
async def running_session(url: str):
    config = Config().with_server(url=url, timeout_s=20).replace(
        reconnect=ReconnectSettings(max_attempts=0, base_delay_s=0.1, max_delay_s=0.5))
    session = ComfySession(config)
    updates: list[SessionUpdate] = []
    session.add_listener(updates.append)
    runner = asyncio.create_task(session.run(), name="hostile-session")
    try:
        async with asyncio.timeout(20):
            while session.connection.state != "connected":
                assert not runner.done(), runner
                await asyncio.sleep(0.05)
        yield session, updates, runner
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await session.aclose()


def _run_cli(*args: str | Path, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    return subprocess.run([str(COMFYTUI), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL, cwd=home)


def test_run_wait_finishes_its_job_through_every_fault(comfy_server, tmp_path: Path) -> None:
    workflow = tmp_path / "slow.json"
    workflow.write_text(json.dumps(progress_prompt(steps=8, delay=0.25, prefix="hostile")))
    home = tmp_path / "home"
    home.mkdir()
    # Another client's job on the server: the run reads /queue (through the faults) to learn of it.
    httpx.post(f"{comfy_server.url}/prompt", json={"prompt": sleep_prompt(1.0), "client_id": "someone-else"},
               timeout=10).raise_for_status()
    with HostileComfy(comfy_server.url, faults=frozenset({"frames", "http"})) as hostile:
        proc = _run_cli("run", workflow, "--url", hostile.url, "--wait", "--json", "--out", tmp_path / "out", home=home)
    assert hostile.injected_frames >= 20, "the malformed burst was sent mid-job"
    assert "500" in hostile.http_faults
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "success"
    (saved,) = result["jobs"][0]["outputs"]
    assert Path(saved).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the output came through the proxy intact"
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream and "\x9b" not in stream, "no server-sent escape reaches the terminal"
    assert hostile.elsewhere_requests == [], "a cross-origin redirect was followed"


async def test_session_counts_malformed_frames_survives_an_oversized_one_and_ends_the_job(
    comfy_server, comfytui_home: Path
) -> None:
    hostile = HostileComfy(comfy_server.url, faults=frozenset({"frames", "oversized", "http"})).start()
    try:
        async with running_session(hostile.url) as (session, updates, runner):
            job = await session.submit(progress_prompt(steps=8, delay=0.25, prefix="hostile_session"))
            async with asyncio.timeout(60):
                (job,) = await session.wait_for([job.prompt_id])
            assert job.state == JobState.SUCCESS, (job, hostile.http_faults)
            assert not runner.done(), "the session task is still following the server"
            assert session.malformed_count >= SKIPPED_AT_LEAST, session.malformed_reason
            assert session.malformed_reason, "the header has a last reason to show"
            assert hostile.oversized_sent == 1
            reasons = [u.event.reason for u in updates if type(u.event).__name__ == "Disconnected"]
            assert any("64 MiB" in r for r in reasons), reasons
            async with asyncio.timeout(20):
                while session.connection.state != "connected":  # noqa: ASYNC110 - polled state, no event to await
                    await asyncio.sleep(0.05)
            assert hostile.websocket_sessions >= 2, "it reconnected after the oversized frame"
            log_text = "".join(e.message for e in session.logs)
            assert "\x1b]" not in log_text and "\x1bc" not in log_text and "\x9b" not in log_text
    finally:
        hostile.stop()
