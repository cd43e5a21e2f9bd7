"""Helpers for driving a real ComfySession (its ``run()`` in a task) in tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import Job
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.config import Config, ReconnectSettings

FAST_RECONNECT = ReconnectSettings(max_attempts=0, base_delay_s=0.1, max_delay_s=0.5)


def session_config(url: str) -> Config:
    return Config().with_server(url=url, timeout_s=20).replace(reconnect=FAST_RECONNECT)


@dataclass
class Recorder:
    """Every update a session emits, plus a snapshot of each changed job."""

    session: ComfySession
    updates: list[SessionUpdate] = field(default_factory=list)
    snapshots: dict[str, list[Job]] = field(default_factory=dict)
    stamps: list[tuple[float, object]] = field(default_factory=list)

    def __call__(self, update: SessionUpdate) -> None:
        self.updates.append(update)
        self.stamps.append((time.monotonic(), update.event))
        for pid in update.changed:
            job = self.session.book.get(pid)
            if job is not None:
                self.snapshots.setdefault(pid, []).append(job)

    def events(self, kind: type) -> list:
        return [u.event for u in self.updates if isinstance(u.event, kind)]

    def previews(self) -> list[ev.PreviewImage]:
        return self.events(ev.PreviewImage)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str, runner: asyncio.Task | None = None) -> float:
    """Poll ``predicate`` every 20 ms; returns the seconds it took. Fails naming ``what``."""
    start = time.monotonic()
    while not predicate():
        if runner is not None and runner.done():
            raise AssertionError(f"session.run() ended while waiting for {what}: {runner!r}")
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def running_session(url: str, *, connect_timeout: float = 20.0) -> AsyncIterator[tuple[ComfySession, Recorder, asyncio.Task]]:
    session = ComfySession(session_config(url))
    recorder = Recorder(session)
    session.add_listener(recorder)
    runner = asyncio.create_task(session.run(), name="test-session")
    try:
        await wait_until(lambda: session.connection.state == "connected", connect_timeout, "the first connect", runner)
        yield session, recorder, runner
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await session.aclose()
