"""The 0.3.75 fallbacks of the newer-server features, against the real CPU ComfyUI 0.3.75.

Same client methods as test_newer_servers.py (the contract double): here they must detect an old
server and use ``/queue``, ``/history``, ``POST /queue {delete}`` and ``/interrupt``."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient, same_origin
from comfytui.core.comfy.stream import ComfyStream
from comfytui.core.config import ReconnectSettings, ServerSettings
from harness.comfy import progress_prompt, sleep_prompt
from harness.gateway import pipe

pytestmark = pytest.mark.comfy
CLIENT_ID = "comfytui-fallbacks"


@pytest.fixture
async def client(comfy_server) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(ServerSettings(url=comfy_server.url, timeout_s=20)) as c:
        yield c


async def until(check, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_detection_on_0_3_75_falls_back_to_the_classic_routes(client: ComfyClient) -> None:
    found = await client.server_features()
    assert found.version == (0, 3, 75)
    assert not found.jobs_api and not found.jobs_cancel and not found.preview_method
    assert "404" in found.reasons["jobs_api"]
    assert found.flags.get("supports_preview_metadata") is True


async def test_one_cancel_removes_a_pending_job_and_interrupts_the_running_one(client: ComfyClient) -> None:
    running = await client.submit(sleep_prompt(30.0), client_id=CLIENT_ID)
    waiting = await client.submit(sleep_prompt(0.1), client_id=CLIENT_ID)

    async def running_now() -> bool:
        queue = await client.queue()
        return [q.prompt_id for q in queue.running] == [running.prompt_id]
    try:
        await until(running_now, 30, "the sleep job to run")
        outcome = await client.cancel(waiting.prompt_id)
        assert (outcome.route, outcome.cancelled, outcome.dequeued, outcome.interrupted) == (
            "queue+interrupt", True, (waiting.prompt_id,), ())
        queue = await client.queue()
        assert waiting.prompt_id not in {q.prompt_id for q in queue.pending}
        assert [q.prompt_id for q in queue.running] == [running.prompt_id], "the running job is untouched"

        outcome = await client.cancel(running.prompt_id)
        assert outcome.interrupted == (running.prompt_id,) and outcome.cancelled
        entry = await until(lambda: client.history_entry(running.prompt_id), 20, "the interrupted job in history")
        assert entry.status == "interrupted"
    finally:
        await client.cancel([running.prompt_id, waiting.prompt_id])
    # listed the jobs API's way: interrupted is "cancelled"; the dequeued job never ran
    listed = await client.jobs(["cancelled"])
    assert listed.route == "queue+history" and running.prompt_id in [j.id for j in listed.jobs]
    assert await client.job(waiting.prompt_id) is None
    # cancelling again is harmless and says nothing happened
    assert not (await client.cancel(running.prompt_id)).cancelled


async def test_jobs_listing_and_detail_from_queue_and_history(client: ComfyClient) -> None:
    done = await client.submit(progress_prompt(steps=1, delay=0.0, prefix="fallback_list"), client_id=CLIENT_ID,
                               preview_method="taesd")
    await until(lambda: client.history_entry(done.prompt_id), 30, "the job to finish")
    page = await client.jobs(["completed"], limit=5)
    assert page.route == "queue+history" and page.limit == 5 and page.total >= 1
    newest = page.jobs[0]
    assert newest.id == done.prompt_id and newest.status == "completed"
    assert newest.outputs_count == 1 and newest.preview_output["filename"].startswith("fallback_list")
    assert newest.create_time_ms and newest.ended_ms >= newest.started_ms
    detail = await client.job(done.prompt_id)
    assert detail.client_id == CLIENT_ID and detail.prompt["1"]["class_type"] == "ComfyTUIProgress"
    assert "2" in detail.outputs
    # 0.3.75 does not read preview_method per prompt: it was not sent
    assert "preview_method" not in detail.extra_data
    # an id in any UUID spelling is made canonical before it is sent
    mine = str(uuid.uuid4())
    again = await client.submit(progress_prompt(steps=1, delay=0.0), client_id=CLIENT_ID, prompt_id=mine.upper())
    assert again.prompt_id == mine
    await until(lambda: client.history_entry(mine), 30, "the canonical-id job to finish")


async def _first_connect(stream: ComfyStream, timeout: float = 20) -> tuple[ev.Connected, dict | None]:
    connected = None
    async def consume() -> None:
        nonlocal connected
        async for event in stream.events():
            if isinstance(event, ev.Connected):
                connected = event
            if isinstance(event, ev.FeatureFlags):
                return
    await asyncio.wait_for(consume(), timeout)
    return connected, stream.server_flags


async def test_websocket_origin_is_accepted_by_0_3_75(client: ComfyClient) -> None:
    stream = ComfyStream(client, "comfytui-origin", ReconnectSettings(max_attempts=1, base_delay_s=0.1, max_delay_s=0.2))
    assert stream.origin == same_origin(client.url) == client.url
    connected, flags = await _first_connect(stream)
    assert connected.via == "websocket" and stream.origin == client.url, "0.3.75 took our Origin"
    assert flags["supports_preview_metadata"] is True and flags["max_upload_size"] == 104857600


@contextlib.asynccontextmanager
async def host_rewriting_proxy(upstream_port: int) -> AsyncIterator[int]:
    """Like an nginx ``proxy_pass http://127.0.0.1:PORT`` without ``proxy_set_header Host``."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, OSError):
            writer.close()
            return
        lines = [f"Host: 127.0.0.1:{upstream_port}".encode() if line.lower().startswith(b"host:") else line
                 for line in head.split(b"\r\n")]
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        up_writer.write(b"\r\n".join(lines))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_origin_refused_behind_a_host_rewriting_proxy_is_dropped(comfy_server) -> None:
    port = int(comfy_server.url.rsplit(":", 1)[1])
    async with host_rewriting_proxy(port) as proxy_port:
        url = f"http://localhost:{proxy_port}"
        async with ComfyClient(ServerSettings(url=url, timeout_s=20)) as client:
            stream = ComfyStream(client, "comfytui-proxy", ReconnectSettings(max_attempts=2, base_delay_s=0.1, max_delay_s=0.2))
            assert stream.origin == url
            connected, flags = await _first_connect(stream)
    assert connected.via == "websocket" and not connected.reconnect
    assert stream.origin is None, "0.3.75 answered 403 to the rewritten Host; the Origin was dropped"
    assert flags["supports_preview_metadata"] is True
