"""The fleet: one local queue in front of several ComfyUI servers (docs/FLEET.md).

Jobs for the fleet wait in the store under a *pool* key (``fleet:`` + the servers' URLs). The
fleet runs one ``Dispatcher`` per server (each with its own session and store lock) and a router
that moves a pool job into one server's local queue when that server

1. can run it: every node type is in its ``/object_info`` and every model file the prompt names
   is in its lists (``preflight``'s missing-node and missing-model checks), and
2. has room (fewer than ``dispatch_depth + 1`` of our jobs assigned, pending or running), and
3. is the least loaded of those: the expected seconds of work it holds (running + pending +
   assigned, durations from the history of the same workflow), foreign jobs included.

Jobs pinned to one server (``--server``) go straight to that server's queue and follow the
single-server rules. When a server stays unreachable for ``down_after_s``, its dispatcher is
stopped, the routed jobs still waiting there (assigned or pending) go back to the pool and on to
another server, and a routed job that was running is marked ``lost`` (``history requeue --lost``
queues it again). When the server is back, the pending copies it may still hold are deleted
before anything new is sent there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.queue.dispatcher import FALLBACK_TICK_S, Dispatcher, DispatcherBusy
from comfytui.core.store.db import HistoryFilter, Store, StoredJob, open_store, server_key

log = logging.getLogger(__name__)

POOL_PREFIX = "fleet:"
TICK_S = 0.25
"""How often the servers' health is watched and the store's change mark compared (routing
itself, which reads the store, runs only when something can have changed)."""
DEFAULT_EXPECTED_S = 5.0
"""The expected duration of a job whose workflow has no history yet."""
RETRY_BUSY_S = 5.0
"""How often a server whose lock another process holds is tried again."""


def pool_key(urls: Iterable[str]) -> str:
    """The store's name for the local queue of jobs any of these servers may run."""
    return POOL_PREFIX + ",".join(sorted({server_key(u) for u in urls}))


def is_pool(server: str) -> bool:
    return server.startswith(POOL_PREFIX)


@dataclass(frozen=True)
class Capabilities:
    """What one server can run: its node types and, per model folder, its files."""

    node_types: frozenset[str]
    object_info: dict[str, Any]
    models_by_folder: dict[str, list[str]]

    def missing_for(self, prompt: dict[str, Any]) -> list[str]:
        """Why this server cannot run ``prompt`` (empty: it can)."""
        from comfytui.core.workflows.preflight import preflight

        problems = preflight(prompt, self.object_info, self.models_by_folder)
        return [p.message for p in problems if p.kind in ("missing_node_type", "missing_model")]


@dataclass
class Member:
    """One server of the fleet as the router sees it."""

    name: str
    config: Config
    key: str
    dispatcher: Dispatcher | None = None
    task: asyncio.Task[None] | None = None
    not_up_since: float | None = None
    evacuated: bool = False
    busy_until: float = 0.0
    busy_reason: str = ""
    capabilities: Capabilities | None = None
    moved_away: set[str] = field(default_factory=set)
    """Routed jobs taken back from this server while it was down (deleted there when it returns)."""

    @property
    def up(self) -> bool:
        return self.dispatcher is not None and self.dispatcher.session.connection.state == "connected"


@dataclass(frozen=True)
class Decision:
    """One routing decision, for logs, metrics and tests."""

    job_id: str
    server: str
    reason: str
    """``least_loaded`` (chosen among several), ``only_capable`` (the only one able and free), ``returned`` (taken back from a down server), ``lost`` (it was running there)."""


class Fleet:
    """Dispatch the pool's jobs over several servers. ``members``: (name, config) per server."""

    def __init__(
        self,
        members: list[tuple[str, Config]],
        *,
        store: Store | None = None,
        down_after_s: float = 2.0,
        capacity: int | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        if not members:
            raise ComfyTuiError("a fleet needs at least one server")
        self.store = store or open_store()
        self.members = [Member(name, cfg, server_key(cfg.server.url)) for name, cfg in members]
        self.pool = pool_key(m.config.server.url for m in self.members)
        self.down_after_s = down_after_s
        self.capacity = capacity
        """Jobs of ours a server may hold (assigned + pending + running); None: its dispatch_depth + 1."""
        self.routed: set[str] = set()
        """Jobs this fleet moved from the pool to a server (pinned jobs are never moved)."""
        self.decisions: Counter[tuple[str, str]] = Counter()
        """(server name, reason) -> count."""
        self.on_decision = on_decision
        self._expected: dict[str, tuple[float, float]] = {}
        self._token = f"fleet-{id(self):x}"
        self._wake = asyncio.Event()
        self._seen_mark: tuple[int, int] | None = None
        """The store's change mark as of the last routing's reads (None: never routed)."""
        self._last_route = 0.0

    # -- lifecycle

    async def run(self) -> None:
        """Route and dispatch until cancelled. Raises ``DispatcherBusy`` when another fleet runs."""
        holder = await self.store.call(self.store.acquire_dispatcher, self.pool, self._token,
                                       self.members[0].config.queue.stale_after_s)
        if holder is not None:
            raise DispatcherBusy(holder)
        beat = asyncio.create_task(self._heartbeat(), name="comfytui-fleet-heartbeat")
        try:
            for member in self.members:
                self._start(member)
            while True:
                if beat.done():
                    beat.result()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK_S):
                        await self._wake.wait()
                woken = self._wake.is_set()
                self._wake.clear()
                await self.tick(woken=woken)
        finally:
            beat.cancel()
            tasks = [m.task for m in self.members if m.task is not None]
            for task in tasks:
                task.cancel()
            for task in (beat, *tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.store.call(self.store.release_dispatcher, self.pool, self._token)

    async def _heartbeat(self) -> None:
        interval = self.members[0].config.queue.heartbeat_s
        while True:
            await asyncio.sleep(interval)
            if not await self.store.call(self.store.heartbeat, self.pool, self._token):
                raise ComfyTuiError(f"this fleet lost its lock on {self.pool} (another took it over)")

    def _start(self, member: Member) -> None:
        cfg = member.config
        if cfg.reconnect.max_attempts:  # a member server may come back: never give up on it
            cfg = cfg.replace(reconnect=type(cfg.reconnect)(0, cfg.reconnect.base_delay_s, cfg.reconnect.max_delay_s))
        member.dispatcher = Dispatcher(cfg, store=self.store)
        member.task = asyncio.create_task(member.dispatcher.run(), name=f"comfytui-fleet-{member.name}")
        member.dispatcher.session.add_listener(lambda _u: self._wake.set())
        member.not_up_since = time.monotonic()

    def wake(self) -> None:
        self._wake.set()

    # -- one round

    async def tick(self, *, woken: bool = True) -> None:
        """Watch every server (cheap, no I/O while nothing changes); route when a server spoke
        (``woken``), one changed state, the store was written, or the fallback is due."""
        now = time.monotonic()
        changed = False
        for member in self.members:
            changed |= await self._watch(member, now)
        mark = await self.store.call(self.store.change_mark)
        if woken or changed or mark != self._seen_mark or now - self._last_route >= FALLBACK_TICK_S:
            self._seen_mark, self._last_route = mark, now  # read before routing: a write during it routes again
            await self.route()

    async def _watch(self, member: Member, now: float) -> bool:
        """True when the member changed in a way routing must see (started, back, evacuated)."""
        task = member.task
        if task is not None and task.done():
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, DispatcherBusy):
                member.busy_reason = str(exc)
                member.busy_until = now + RETRY_BUSY_S
            elif exc is not None:
                log.warning("the dispatcher of %s stopped: %s", member.name, exc)
            member.task = member.dispatcher = None
        if member.task is None:
            if now >= member.busy_until:
                self._start(member)
                return True
            return False
        if member.up:
            changed = member.not_up_since is not None
            if member.evacuated or member.capabilities is None:
                await self._on_back(member)
                changed = True
            member.not_up_since = None
            return changed
        if member.not_up_since is None:
            member.not_up_since = now
            return True
        if not member.evacuated and now - member.not_up_since >= self.down_after_s:
            await self._evacuate(member)
            return True
        return False

    async def _on_back(self, member: Member) -> None:
        """A server answers (first time or after an outage): learn what it can run, drop stale copies."""
        assert member.dispatcher is not None
        client = member.dispatcher.session.client
        if member.moved_away:
            with contextlib.suppress(ComfyTuiError):
                await client.delete_pending(sorted(member.moved_away))
            member.moved_away.clear()
        try:
            member.capabilities = await _capabilities(client)
        except ComfyTuiError as exc:
            log.warning("cannot read what %s can run: %s", member.name, exc)
            return
        member.evacuated = False
        member.busy_reason = ""

    async def _evacuate(self, member: Member) -> None:
        """The server is down: stop following it, send its routed jobs elsewhere."""
        if member.task is not None:
            member.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await member.task
        member.task = member.dispatcher = None
        member.evacuated = True
        pool, routed = self.pool, self.routed

        def take_back() -> list[tuple[str, str]]:
            moved: list[tuple[str, str]] = []
            for job in self.store.queue_rows(member.key):
                if job.id not in routed:
                    continue  # pinned: it waits for its server, as a single server's job does
                if job.state == "running":
                    self.store.update(job.id, state="lost", ended_at=time.time(), only_if_state=("running",))
                    moved.append((job.id, "lost"))
                elif self.store.update(job.id, server=pool, state="queued", dispatched_at=None, number=None,
                                       only_if_state=("queued", "pending")):
                    moved.append((job.id, "returned"))
            return moved

        moved = await self.store.call(take_back)
        for job_id, reason in moved:
            self.routed.discard(job_id)
            if reason == "returned":
                member.moved_away.add(job_id)
            self._decide(Decision(job_id, member.name, reason))
        if moved:
            log.warning("%s is down: %d job(s) returned to the fleet's queue, %d lost", member.name,
                        sum(r == "returned" for _, r in moved), sum(r == "lost" for _, r in moved))
        self._start(member)  # a fresh session: it knows nothing of the jobs taken back

    # -- routing

    def _room(self, member: Member) -> int:
        if self.capacity is not None:
            return self.capacity
        return max(0, member.config.queue.dispatch_depth) + 1

    async def route(self) -> list[Decision]:
        """Move pool jobs, in run order, to the servers that should run them."""
        rows = await self.store.call(self.store.queue_rows, self.pool)
        waiting = [j for j in rows if j.state == "queued" and not j.held]
        if not waiting:
            return []
        ready = [m for m in self.members if m.up and not m.evacuated and m.capabilities is not None]
        if not ready:
            return []
        paused = await self.store.call(lambda: {m.key for m in ready if self.store.paused(m.key)})
        held = {m.key: await self.store.call(self.store.queue_rows, m.key) for m in ready}
        decisions: list[Decision] = []
        for job in waiting:
            able = []
            for member in ready:
                assert member.capabilities is not None
                if not member.capabilities.missing_for(job.prompt):
                    able.append(member)
            if not able:
                if len(ready) == len(self.members):
                    await self._refuse(job, ready)
                continue
            free = [m for m in able if m.key not in paused and _active(held[m.key]) < self._room(m)]
            if not free:
                continue
            loads = {m.key: await self._load(m, held[m.key]) for m in free}
            chosen = min(free, key=lambda m: (loads[m.key], self.members.index(m)))
            moved = await self.store.call(self.store.update, job.id, server=chosen.key, only_if_state=("queued",))
            if not moved:
                continue
            self.routed.add(job.id)
            job.server, job.state = chosen.key, "queued"
            held[chosen.key].append(job)
            decision = Decision(job.id, chosen.name, "least_loaded" if len(free) > 1 else "only_capable")
            decisions.append(decision)
            self._decide(decision)
            if chosen.dispatcher is not None:
                chosen.dispatcher._wake.set()
        return decisions

    async def _refuse(self, job: StoredJob, members: list[Member]) -> None:
        """No server of the fleet can run it: an error the user sees, not a job that waits for ever."""
        reasons = []
        for member in members:
            assert member.capabilities is not None
            reasons.append(f"{member.name}: {'; '.join(member.capabilities.missing_for(job.prompt)[:3])}")
        error = {"node_id": None, "node_type": None, "exception_type": "NoCapableServer",
                 "exception_message": "no server of the fleet can run this job (" + " | ".join(reasons) + ")",
                 "traceback": []}
        await self.store.call(self.store.update, job.id, state="error", ended_at=time.time(), error=error,
                              only_if_state=("queued",))
        self._decide(Decision(job.id, "", "refused"))

    def _decide(self, decision: Decision) -> None:
        self.decisions[(decision.server, decision.reason)] += 1
        log.info("fleet: %s -> %s (%s)", decision.job_id[:8], decision.server or "-", decision.reason)
        if self.on_decision is not None:
            self.on_decision(decision)

    async def _load(self, member: Member, jobs: list[StoredJob]) -> float:
        """Expected seconds of work the server holds: ours (assigned, pending, running) and foreign."""
        now = time.time()
        total = 0.0
        for job in jobs:
            if job.held:
                continue
            expected = await self.expected_s(job)
            if job.state == "running" and job.started_at:
                total += max(expected - (now - job.started_at), 0.1 * expected)
            else:
                total += expected
        if member.dispatcher is not None:
            ours = {j.id for j in jobs}
            foreign = [j for j in member.dispatcher.session.book.active() if j.prompt_id not in ours]
            total += len(foreign) * DEFAULT_EXPECTED_S
        return total

    async def expected_s(self, job: StoredJob) -> float:
        """The median duration of the last successful runs of the same workflow (cached 30 s)."""
        key = job.source or job.label
        cached = self._expected.get(key)
        if cached is not None and time.monotonic() - cached[0] < 30.0:
            return cached[1]
        query = HistoryFilter(status=("success",), text=key, foreign=False, limit=20)
        rows = await self.store.call(self.store.history, query) if key else []
        durations = [r.duration_s for r in rows if r.duration_s is not None]
        value = statistics.median(durations) if durations else DEFAULT_EXPECTED_S
        self._expected[key] = (time.monotonic(), value)
        return value


def _active(jobs: list[StoredJob]) -> int:
    return sum(1 for j in jobs if not j.held and j.state in ("queued", "pending", "running"))


async def _capabilities(client: Any) -> Capabilities:
    from comfytui.core.workflows.preflight import fetch_models_by_folder

    object_info = await client.object_info()
    folders = await client.models()
    models = await fetch_models_by_folder(client, set(folders))
    return Capabilities(frozenset(object_info), object_info, models)
