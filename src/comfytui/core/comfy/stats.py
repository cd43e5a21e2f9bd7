"""One ``/system_stats`` poller per server, shared by every view that shows it.

The dashboard header, the Devices pane and the GPU screen all want the server's latest
``SystemStats``; polling it once and fanning the result out keeps the server's load (and the
numbers on screen) the same whichever of them are open.

API (all on the event loop that owns the client)::

    poller = SystemStatsPoller(client, interval_s=2.0, idle_interval_s=15.0)
    poller.start()                          # background task; idempotent
    poller.set_live(True)                   # poll every interval_s (else idle_interval_s); wakes the loop
    unsubscribe = poller.subscribe(cb)      # cb(sample: StatsSample), called after every poll
    sample = await poller.refresh()         # poll now (joins a poll already in flight)
    poller.poke()                           # wake the loop now (e.g. after a reconnect)
    async for sample in poller.samples():   # asyncio-friendly: each new sample, until cancelled
        ...
    poller.latest                           # the last StatsSample, or None before the first poll
    await poller.stop()

A sample carries either ``stats`` (typed ``SystemStats``) or ``error`` (a message for the user),
plus the round trip ``latency_s``. Callbacks run on the loop and must not block; one that raises
is logged and does not stop the others. The poller never closes the client it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from comfytui.core.comfy.types import SystemStats
from comfytui.core.errors import ComfyTuiError

if TYPE_CHECKING:
    from comfytui.core.comfy.client import ComfyClient

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 2.0


@dataclass(frozen=True)
class StatsSample:
    """One poll of ``/system_stats``: the typed reply, or why there is none."""

    stats: SystemStats | None
    error: str | None
    at: float
    """Wall-clock time (epoch seconds) the reply arrived."""
    latency_s: float | None = None
    """Round trip of the request; None when it failed."""

    @property
    def ok(self) -> bool:
        return self.stats is not None


StatsCallback = Callable[[StatsSample], None]


class SystemStatsPoller:
    """Polls ``client.system_stats()`` every ``interval_s`` and shares the latest sample."""

    def __init__(self, client: ComfyClient, *, interval_s: float = DEFAULT_INTERVAL_S,
                 idle_interval_s: float | None = None) -> None:
        """``idle_interval_s``: the slower period while not ``live`` (an idle server's numbers
        barely move); None polls every ``interval_s`` always."""
        self.client = client
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.live = True
        self.latest: StatsSample | None = None
        self._last_good: SystemStats | None = None
        self._subscribers: list[StatsCallback] = []
        self._task: asyncio.Task[None] | None = None
        self._in_flight: asyncio.Task[StatsSample] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()

    @property
    def stats(self) -> SystemStats | None:
        """The last successful reply's stats, kept through later failures."""
        return self._last_good

    # -- consumers

    def subscribe(self, callback: StatsCallback) -> Callable[[], None]:
        """Call ``callback(sample)`` after every poll; returns the function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    async def samples(self) -> AsyncIterator[StatsSample]:
        """Each new sample as it arrives (the current one first, when there is one)."""
        seen = self.latest
        if seen is not None:
            yield seen
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda seen=seen: self.latest is not seen)
            seen = self.latest
            assert seen is not None
            yield seen

    # -- polling

    async def refresh(self) -> StatsSample:
        """Poll now; a caller arriving while a poll is in flight shares its result."""
        if self._in_flight is None or self._in_flight.done():
            self._in_flight = asyncio.create_task(self._poll_once(), name="comfytui-system-stats")
        return await asyncio.shield(self._in_flight)

    def poke(self) -> None:
        """Wake the background loop for an immediate poll."""
        self._wake.set()

    def set_live(self, live: bool) -> None:
        """Live (a job runs, someone watches the numbers): poll every ``interval_s``; else every
        ``idle_interval_s``. Going live polls at once."""
        if live and not self.live:
            self.poke()
        self.live = live

    @property
    def period_s(self) -> float:
        """The loop's current period."""
        if self.live or self.idle_interval_s is None:
            return self.interval_s
        return max(self.interval_s, self.idle_interval_s)

    def start(self) -> None:
        """Start the background loop (no-op when it runs)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="comfytui-system-stats-poller")

    async def stop(self) -> None:
        for task in (self._task, self._in_flight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            await self.refresh()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.period_s)

    async def _poll_once(self) -> StatsSample:
        started = time.monotonic()
        try:
            stats = await self.client.system_stats()
        except ComfyTuiError as exc:
            sample = StatsSample(None, str(exc), time.time())
        else:
            sample = StatsSample(stats, None, time.time(), time.monotonic() - started)
            self._last_good = stats
        await self._publish(sample)
        return sample

    async def _publish(self, sample: StatsSample) -> None:
        self.latest = sample
        async with self._changed:
            self._changed.notify_all()
        for callback in list(self._subscribers):
            try:
                callback(sample)
            except Exception:
                # One broken view must not starve the others.
                log.exception("a system_stats subscriber failed")
