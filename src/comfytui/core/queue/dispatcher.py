"""The dispatcher: moves jobs from the local queue to one ComfyUI, in order.

One per server at a time: it holds the store's lock row (pid, host, heartbeat); a holder whose
pid is dead or whose heartbeat is old is stale and taken over. It keeps at most
``dispatch_depth`` of our jobs pending on the server beyond the running one, sends nothing while
the queue is paused or the server is down, and never sends a job twice: one already in
``/queue`` or ``/history`` under its id is recorded, not resubmitted.

It follows the server through a ``ComfySession`` (so job outcomes reach the store) and records
foreign jobs from ``/history`` whenever a ``status`` broadcast says the queue changed (a
``HistoryRecorder``, which a dashboard that does not hold the lock runs on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from comfytui.core.comfy.journal import record_finished
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError, PromptRejected, ServerUnreachable
from comfytui.core.queue import ops
from comfytui.core.queue.notify import notify
from comfytui.core.queue.outputs import collect_outputs
from comfytui.core.store.db import DispatcherLock, HistoryFilter, Store, open_store, server_key

log = logging.getLogger(__name__)

STORE_CHECK_S = 0.25
"""How often the store's change mark is compared (a PRAGMA: no rows read, no HTTP)."""
FALLBACK_TICK_S = 5.0
"""A full round (``GET /queue`` and store reads) at least this often, whatever was heard."""


class DispatcherBusy(ComfyTuiError):
    """Another process dispatches to this server."""

    def __init__(self, holder: DispatcherLock) -> None:
        super().__init__(f"a dispatcher already runs for {holder.server}: {holder.describe()}")
        self.holder = holder


class HistoryRecorder:
    """Reads the server's ``/history`` into the store whenever the queue changed, coalesced: a
    burst of status messages costs one read in flight and one after it, not one each (a busy
    server sends many). A foreign job may start and end between two queue reads: its history
    entry is the only trace of it.

    ``on_recorded`` gets the ids that are new in the store's latest finished jobs of this server
    since the last read (on the first read, all of them), whoever wrote them: beside a daemon that
    holds the dispatcher lock, the daemon often records a job first (``record_history`` skips rows
    already finished, so two recorders write each job once or write the same values), and the
    dashboard must still show it.
    """

    WINDOW = 20
    """How many of the newest entries are read (and compared in the store)."""
    MIN_GAP_S = 0.25
    """Reads asked for in a flood start at least this far apart: a busy server's stream of
    status messages costs a few /history reads a second, not one after another."""

    def __init__(self, store: Store, session: ComfySession, server: str) -> None:
        self.store = store
        self.session = session
        self.server = server_key(server)
        self.on_recorded: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._again = False
        self._known: set[str] | None = None

    def on_update(self, update: SessionUpdate) -> None:
        """A session listener: the queue changed or a job of ours ended."""
        if isinstance(update.event, ev.Status | ev.ExecutionSuccess | ev.ExecutionError):
            self.want()

    def want(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._again = True
            return
        self._reader = asyncio.create_task(self._read(), name="comfytui-history-reader")

    async def _read(self) -> None:
        while True:
            self._again = False
            recorded = await ops.record_history(self.store, self.session.client, self.server, max_items=self.WINDOW)
            newest = await self.store.call(self.store.history, HistoryFilter(server=self.server, limit=self.WINDOW))
            ids = {j.id for j in newest}
            # The first read reports every id: the job that woke it may already be in the store,
            # written by the other recorder, and it is in nobody's History yet.
            known = set() if self._known is None else self._known
            fresh = [*recorded, *(ids - known - set(recorded))]
            self._known = ids
            if fresh and self.on_recorded is not None:
                self.on_recorded(fresh)
            if not self._again:
                return
            await asyncio.sleep(self.MIN_GAP_S)

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


class Dispatcher:
    def __init__(self, config: Config, *, store: Store | None = None, session: ComfySession | None = None) -> None:
        self.config = config
        self.store = store or open_store()
        self.session = session or ComfySession(config, role="daemon")
        self.server = server_key(self.session.client.url)
        self.token = uuid.uuid4().hex
        self.depth = max(0, config.queue.dispatch_depth)
        self._wake = asyncio.Event()
        self._seen_mark: tuple[int, int] | None = None
        """The store's change mark as of the last round's reads (None: never read)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self.history = HistoryRecorder(self.store, self.session, self.server)
        self.history.on_recorded = self._recorded
        self._states: dict[str, JobState] = {}
        self.sent: list[str] = []
        """Ids this dispatcher submitted, in order (for logs and tests)."""
        self.on_recorded: Any = None
        """Called with the ids read from ``/history`` into the store (the dashboard's History
        reloads: a foreign job that came and went between two queue reads never reaches the
        session's book, only the store)."""

    # -- lifecycle

    async def acquire(self) -> None:
        holder = await self.store.call(
            self.store.acquire_dispatcher, self.server, self.token, self.config.queue.stale_after_s
        )
        if holder is not None:
            raise DispatcherBusy(holder)

    async def run(self) -> None:
        """Dispatch until cancelled. Raises ``DispatcherBusy`` when another holds the lock."""
        await self.acquire()
        self.session.add_listener(self._on_update)
        follower = asyncio.create_task(self.session.run(), name="comfytui-dispatch-session")
        beat = asyncio.create_task(self._heartbeat(), name="comfytui-dispatch-heartbeat")
        try:
            last_round = time.monotonic()
            while True:
                if follower.done():
                    follower.result()  # re-raise what stopped the session
                    return
                if beat.done():
                    beat.result()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(STORE_CHECK_S):
                        await self._wake.wait()
                # A round only when something can have changed: the server said so (the session
                # sets _wake), the local queue was written (here or by another process: `run`,
                # the CLI's queue commands), or the fallback is due. An idle dashboard then costs
                # a PRAGMA a tick, not a GET /queue and store reads.
                mark = await self.store.call(self.store.change_mark)
                woken = self._wake.is_set()
                if not woken and mark == self._seen_mark and time.monotonic() - last_round < FALLBACK_TICK_S:
                    continue
                self._wake.clear()
                self._seen_mark = mark  # read before the round: a write during it brings another
                last_round = time.monotonic()
                try:
                    await self.tick()
                except ServerUnreachable:
                    pass  # jobs wait locally; the session reconnects and wakes us
        finally:
            self.session.remove_listener(self._on_update)
            for task in (follower, beat, *self._tasks):
                task.cancel()
            for task in (follower, beat, *self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.history.aclose()
            with contextlib.suppress(Exception):
                await self.store.call(self.store.release_dispatcher, self.server, self.token)
            await self.session.aclose()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.queue.heartbeat_s)
            held, before, after = await self.store.call(self._beat)
            # Our own heartbeat is a write, yet no reason for a round: when it was the only one,
            # the seen mark moves past it (any other write in between leaves the marks apart).
            if before == self._seen_mark and after == (before[0], before[1] + 1):
                self._seen_mark = after
            if not held:
                raise ComfyTuiError(f"this dispatcher lost its lock on {self.server} (another took it over)")

    def _beat(self) -> tuple[bool, tuple[int, int], tuple[int, int]]:
        """On the store's thread: refresh the lock, with the change marks around the write."""
        before = self.store.change_mark()
        held = self.store.heartbeat(self.server, self.token)
        return held, before, self.store.change_mark()

    # -- dispatching

    async def tick(self) -> None:
        if self.session.connection.state != "connected":
            return
        if await self.store.call(self.store.paused, self.server):
            return
        client = self.session.client
        queue = await client.queue()
        on_server = {q.prompt_id for q in queue.running + queue.pending}
        ours_pending = sum(1 for q in queue.pending if (q.client_id or "").startswith(ops.OWN_CLIENT_PREFIX))
        while ours_pending < self.depth or (not queue.running and not queue.pending and ours_pending == 0):
            job = await self.store.call(self.store.next_to_dispatch, self.server)
            if job is None:
                return
            if job.id in on_server:
                # Sent before a crash, the POST got through: record it, do not send it again.
                await self.store.call(self.store.update, job.id, state="pending", dispatched_at=job.dispatched_at or time.time())
                ours_pending += 1
                continue
            entry = await client.history_entry(job.id)
            if entry is not None:
                await self.store.call(self.store.upsert, ops.entry_to_row(entry, self.server, job))
                continue
            # Marked before the POST: a kill in between leaves a trace the check above resolves.
            await self.store.call(self.store.update, job.id, dispatched_at=time.time(), client_id=self.session.client_id)
            try:
                await self.session.submit(
                    job.prompt, label=job.label, batch=job.batch, workflow=job.workflow, prompt_id=job.id
                )
            except PromptRejected as exc:
                error = {"node_id": None, "node_type": None, "exception_type": "PromptRejected",
                         "exception_message": exc.message, "traceback": []}
                await self.store.call(self.store.update, job.id, state="error", ended_at=time.time(), error=error)
                continue
            self.sent.append(job.id)
            ours_pending += 1
            if self.depth == 0:
                return  # nothing waits on the server: the next goes when this one has started

    # -- following the server

    def _on_update(self, update: SessionUpdate) -> None:
        event = update.event
        if isinstance(event, ev.Status | ev.Connected | ev.ExecutionStart | ev.ExecutionSuccess):
            self._wake.set()
        self.history.on_update(update)
        for pid in update.changed:
            job = self.session.book.get(pid)
            if job is None or self._states.get(pid) == job.state:
                continue
            self._states[pid] = job.state
            if job.state == JobState.RUNNING:
                self.store.defer(self.store.update, pid, state="running", started_at=job.started_at,
                                 only_if_state=("queued", "pending"))
                self._wake.set()
            elif job.state.finished:
                self._wake.set()
                if job.foreign:
                    self.store.defer(record_finished, self.store, job, self.server)
                elif not job.finishing:
                    self._spawn(self._after_finish(pid))

    async def _after_finish(self, job_id: str) -> None:
        # store.call runs after the session's deferred writes (one store thread): the row is settled.
        row = await self.store.call(self.store.get, job_id)
        if row is None or not row.finished:
            return
        # Only the jobs this dispatcher sent: another comfytui process's own jobs on a shared
        # server (a comfytui- client id too) are that process's to download, not this one's.
        mine = row.client_id == self.session.client_id
        if row.state == "success" and self.config.outputs.collect and row.outputs and mine:
            try:
                got = await collect_outputs(self.store, self.session.client, row, self.config.outputs)
            except ComfyTuiError as exc:
                log.warning("collecting outputs of %s failed: %s", job_id, exc)
            else:
                for message in got.refused:
                    log.warning("%s", message)
        await notify(self.config.notify, row)

    def _recorded(self, ids: list[str]) -> None:
        if self.on_recorded is not None:
            self.on_recorded(ids)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
