"""The dashboard's /history watcher beside another recorder (a daemon holding the dispatcher
lock), on the real CPU ComfyUI and a real store: a fast job of another client must reach the
dashboard's History whoever records it first."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from comfytui.core.comfy.session import ComfySession
from comfytui.core.queue import ops
from comfytui.core.queue.dispatcher import HistoryRecorder
from comfytui.core.store.db import Store, server_key
from core._live import session_config
from harness.comfy import sleep_prompt

pytestmark = pytest.mark.comfy


async def test_the_first_read_reports_a_job_that_another_recorder_stored_first(comfy_server, tmp_path: Path) -> None:
    url = comfy_server.url
    store = Store(tmp_path / "db")
    session = ComfySession(session_config(url))
    try:
        # The dashboard's watcher is attached while the server is idle: it has read nothing yet.
        watcher = HistoryRecorder(store, session, url)
        reported: list[str] = []
        watcher.on_recorded = reported.extend
        async with httpx.AsyncClient(timeout=10) as other:
            posted = await other.post(f"{url}/prompt", json={"prompt": sleep_prompt(0), "client_id": "someone-else"})
            pid = posted.json()["prompt_id"]
            deadline = time.monotonic() + 20
            while pid not in (await other.get(f"{url}/history/{pid}")).json():
                assert time.monotonic() < deadline, "the fast job did not finish"
                await asyncio.sleep(0.05)
        # The daemon reads /history first and stores the job as finished ...
        assert pid in await ops.record_history(store, session.client, server_key(url))
        # ... and only then does the job's status message wake the dashboard's watcher: its first read.
        watcher.want()
        await asyncio.wait_for(watcher._reader, 20)
        assert pid in reported, "the dashboard's History was never told of the job"
        # Later reads report only what is new.
        reported.clear()
        watcher.want()
        await asyncio.wait_for(watcher._reader, 20)
        assert reported == []
    finally:
        await session.aclose()
        store.close()
