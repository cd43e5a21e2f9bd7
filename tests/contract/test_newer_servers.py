"""Newer ComfyUI paths, against the CONTRACT DOUBLE in newer_comfy.py (§5 shapes only).

Only what 0.3.75 cannot show is here; the same client methods are run against the real 0.3.75 in
test_fallbacks_live.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from newer_comfy import FLAGS_0_32, newer_comfy

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import features as feat
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.stream import ComfyStream
from comfytui.core.config import ReconnectSettings, ServerSettings
from comfytui.core.errors import InputError

PROMPT = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}}


def client_for(url: str, **kw) -> ComfyClient:
    return ComfyClient(ServerSettings(url=url, timeout_s=10, **kw))


async def test_detection_on_a_newer_server_uses_jobs_api_cancel_and_preview_method() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        found = await client.server_features()
        assert found.version == (0, 32, 0) and found.jobs_api and found.jobs_cancel and found.preview_method
        assert found.all_devices and found.strict_prompt_id and found.origin_checked
        assert found.flags["node_replacements"] is True
        assert "200 with pagination" in found.reasons["jobs_api"]
        # cached per client: asking again sends nothing
        before = len(server.requests)
        assert await client.server_features() is found
        assert len(server.requests) == before


async def test_jobs_listing_passes_filter_sort_and_paging_to_the_jobs_api() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        done = [server.add("completed") for _ in range(3)]
        server.add("failed")
        pending = server.add("pending")
        page = await client.jobs(["completed"], sort_order="asc", limit=2, offset=1)
        assert page.route == "jobs"
        assert [j.id for j in page.jobs] == [done[1].id, done[2].id]
        assert page.total == 3 and not page.has_more and page.limit == 2
        assert page.jobs[0].preview_output["filename"].endswith(".png") and page.jobs[0].outputs_count == 1
        queue = await client.jobs(["pending", "in_progress"])
        assert [j.id for j in queue.jobs] == [pending.id] and queue.jobs[0].status == "pending"
        newest = await client.jobs(limit=1)
        assert newest.jobs[0].id == pending.id and newest.has_more and newest.total == 5
        failed = (await client.jobs(["failed"])).jobs[0]
        assert failed.error_message == "boom"
        listed = server.calls("GET", "/api/jobs")
        assert len(listed) >= 4
        with pytest.raises(InputError, match="unknown job status"):
            await client.jobs(["running"])


async def test_an_older_jobs_api_without_cancelled_is_asked_for_failed() -> None:
    async with newer_comfy(version="0.8.0", knows_cancelled=False) as server, client_for(server.url) as client:
        failed = server.add("failed")
        server.add("completed")
        page = await client.jobs(["cancelled"])
        assert page.route == "jobs" and [j.id for j in page.jobs] == [failed.id]
        # the probe, the refused ``cancelled`` and the retry asking for ``failed``
        assert [q.get("status") for q in server.list_queries] == [None, "cancelled", "failed"]


async def test_job_detail_and_unknown_job() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        done = server.add("completed", prompt=PROMPT, extra_data={"client_id": "me"})
        job = await client.job(done.id)
        assert job is not None and job.status == "completed" and job.client_id == "me"
        assert job.prompt == PROMPT and "9" in job.outputs
        assert await client.job(str(uuid.uuid4())) is None


async def test_cancel_uses_the_jobs_cancel_routes() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        running = server.add("in_progress")
        one, two = server.add("pending"), server.add("pending")
        outcome = await client.cancel(running.id)
        assert outcome.route == "jobs" and outcome.cancelled and running.status == "cancelled"
        outcome = await client.cancel([one.id, two.id])
        assert outcome.route == "jobs" and outcome.cancelled and {one.status, two.status} == {"cancelled"}
        assert server.calls("POST", "/api/jobs/cancel") == [{"job_ids": [one.id, two.id]}]
        # idempotent: a finished job gives "nothing cancelled", not an error
        assert not (await client.cancel(running.id)).cancelled
        # the classic routes were not used
        assert not server.calls("POST", "/queue") and not server.calls("POST", "/interrupt")


async def test_jobs_api_without_cancel_routes_falls_back_to_queue_and_interrupt() -> None:
    """A server between 0.6 and 0.26: jobs listing yes, cancel routes no."""
    async with newer_comfy(version="0.10.0", jobs_cancel=False) as server, client_for(server.url) as client:
        found = await client.server_features()
        assert found.jobs_api and not found.jobs_cancel and found.preview_method
        job = server.add("pending")
        outcome = await client.cancel(job.id)
        assert outcome.route == "queue+interrupt" and outcome.dequeued == (job.id,)
        assert server.calls("POST", "/queue") == [{"delete": [job.id]}] and job.id not in server.jobs


async def test_cancel_route_answering_404_switches_to_the_classic_routes() -> None:
    """Version says 0.26+, but a gateway hides the cancel route: 404 → classic, remembered."""
    async with newer_comfy(jobs_cancel=False) as server, client_for(server.url) as client:
        assert (await client.server_features()).jobs_cancel
        job = server.add("pending")
        outcome = await client.cancel(job.id)
        assert outcome.route == "queue+interrupt" and outcome.dequeued == (job.id,)
        assert server.calls("POST", "/queue") == [{"delete": [job.id]}] and job.id not in server.jobs
        assert not (await client.server_features()).jobs_cancel
        assert "404" in (await client.server_features()).reasons["jobs_cancel"]


async def test_prompt_ids_are_canonical_and_preview_method_is_sent() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        upper = str(uuid.uuid4()).upper()
        submitted = await client.submit(PROMPT, client_id="me", prompt_id=upper, preview_method="taesd")
        assert submitted.prompt_id == upper.lower()
        sent = server.prompts[-1]
        assert sent["prompt_id"] == upper.lower() and sent["extra_data"]["preview_method"] == "taesd"
        with pytest.raises(InputError, match="not a UUID"):
            await client.submit(PROMPT, client_id="me", prompt_id="my-own-id-123")
        with pytest.raises(InputError, match="unknown preview method"):
            await client.submit(PROMPT, client_id="me", preview_method="fast")
        assert len(server.prompts) == 1  # neither bad request reached the server


async def test_preview_method_left_out_where_the_server_does_not_read_it() -> None:
    async with newer_comfy(version="0.4.2", jobs_api=False) as server, client_for(server.url) as client:
        await client.submit(PROMPT, client_id="me", extra_data={"preview_method": "none"})
        assert "preview_method" not in (server.prompts[-1].get("extra_data") or {})


async def test_system_stats_keeps_every_device_primary_first() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        stats = await client.system_stats()
        assert [d.index for d in stats.devices] == [0, 1]
        assert stats.primary_device.name.startswith("cuda:0") and stats.devices[1].vram_used == 50 * 2**30
        assert len(stats.to_dict()["devices"]) == 2 and stats.os == "linux"


async def test_websocket_sends_same_origin_and_exposes_the_feature_flags_reply() -> None:
    async with newer_comfy() as server, client_for(server.url) as client:
        stream = ComfyStream(client, "tui-contract", ReconnectSettings(max_attempts=1, base_delay_s=0.05, max_delay_s=0.1))
        seen = []
        async def consume() -> None:
            async for event in stream.events():
                seen.append(event)
                if isinstance(event, ev.FeatureFlags):
                    return
        await asyncio.wait_for(consume(), 10)
        assert server.ws_origins == [server.url]
        assert isinstance(seen[0], ev.Connected)
        assert stream.server_flags == FLAGS_0_32 and client.server_flags == FLAGS_0_32
        assert server.ws_received[0] == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


async def test_the_double_refuses_a_null_origin_so_the_origin_matters() -> None:
    """Guards the test above: the double really enforces the 0.28+ rule."""
    import websockets
    from websockets.asyncio.client import connect

    async with newer_comfy() as server:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with connect(server.url.replace("http", "ws") + "/ws", origin="null"):
                pass
        assert refused.value.response.status_code == 403


def test_version_parsing_and_decisions_without_a_server() -> None:
    assert feat.parse_version("0.3.75") == (0, 3, 75)
    assert feat.parse_version("v0.26.1-rc1") == (0, 26, 1)
    assert feat.parse_version("") is None and feat.parse_version(None) is None
    old = feat.decide(feat.Evidence(version_text="0.3.75", flags={"supports_preview_metadata": True}, jobs_probe=404))
    assert not (old.jobs_api or old.jobs_cancel or old.preview_method or old.all_devices or old.strict_prompt_id)
    # no version readable (a gateway hides /system_stats) but the probe works: use the jobs API
    hidden = feat.decide(feat.Evidence(jobs_probe=200, jobs_probe_paginated=True))
    assert hidden.jobs_api and hidden.jobs_cancel and hidden.preview_method
    # a catch-all page answering 200 is not the jobs API
    assert not feat.decide(feat.Evidence(version_text="0.30.0", jobs_probe=200)).jobs_api
    assert feat.canonical_prompt_id(" 1B4E28BA-2FA1-11D2-883F-0016D3CCA427 ") == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
