"""The shared ``/system_stats`` poller slows down while the dashboard is idle (issue 12: idle CPU)."""

from __future__ import annotations

import asyncio

import pytest

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.stats import SystemStatsPoller
from comfytui.core.config import ServerSettings


@pytest.mark.comfy
async def test_an_idle_poller_polls_slowly_and_going_live_polls_at_once(comfy_server) -> None:
    async with ComfyClient(ServerSettings(url=comfy_server.url, timeout_s=20)) as client:
        poller = SystemStatsPoller(client, interval_s=0.1, idle_interval_s=60.0)
        samples: list = []
        poller.subscribe(samples.append)
        poller.set_live(False)  # nothing runs, nobody looks at the numbers
        poller.start()
        try:
            async with asyncio.timeout(20):
                async for _ in poller.samples():
                    break
            await asyncio.sleep(0.6)
            assert len(samples) == 1, "idle: not one poll per interval_s"
            poller.set_live(True)  # a job started
            async with asyncio.timeout(20):
                async for _ in poller.samples():
                    if len(samples) >= 4:
                        break
        finally:
            await poller.stop()
