"""ComfySession: one connection to one ComfyUI, shared by the dashboard and the headless CLI.

It owns the HTTP client, the websocket stream, the job book and the journal, and keeps them in
step: every (re)connect resyncs from ``/queue`` and ``/history`` (COMFY_API.md §3.3), every
``status`` change refreshes the queue (debounced) so jobs of other clients show up, and jobs that
leave the queue are settled from their history entry (or marked cancelled / lost).

Callers register listeners; a listener gets a ``SessionUpdate`` for each event that changed
something. Listeners run on the session's event loop and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comfytui.core import paths
from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.client import ComfyClient, Submitted
from comfytui.core.comfy.features import canonical_prompt_id
from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.core.comfy.journal import Journal, JournalRecord
from comfytui.core.comfy.stream import ComfyStream, backoff_delay
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError, ServerUnreachable

log = logging.getLogger(__name__)

OWN_CLIENT_PREFIX = "comfytui-"
QUEUE_REFRESH_DEBOUNCE_S = 0.1
HISTORY_SETTLE_DELAYS_S = (0.0, 0.3, 1.0, 2.5)


def new_client_id() -> str:
    return f"{OWN_CLIENT_PREFIX}{uuid.uuid4().hex[:12]}"


class _ClientIdLock:
    """The dashboard keeps its clientId across restarts so it gets the progress of a job it queued
    before it was restarted. Only one dashboard may hold it (two sockets with one id silence each
    other, COMFY_API.md §2.2): the holder keeps an flock on the file; others get a fresh id."""

    def __init__(self) -> None:
        self.handle: Any = None

    def acquire(self) -> str:
        path = paths.ensure(paths.state_dir()) / "dashboard-client-id"
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        paths.make_private(path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return new_client_id()
        handle.seek(0)
        current = handle.read().strip()
        if not current.startswith(OWN_CLIENT_PREFIX):
            current = new_client_id()
            handle.seek(0)
            handle.truncate()
            handle.write(current)
            handle.flush()
        self.handle = handle
        return current

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


@dataclass(frozen=True)
class ConnectionInfo:
    state: str = "connecting"
    """``connecting``, ``connected`` or ``disconnected``."""
    url: str = ""
    reason: str = ""
    retry_in_s: float | None = None
    attempt: int = 0
    version: str | None = None
    via: str = "websocket"
    since: float = field(default_factory=time.time)


@dataclass(frozen=True)
class SessionUpdate:
    event: object
    changed: frozenset[str] = frozenset()


Listener = Callable[[SessionUpdate], None]


class ComfySession:
    def __init__(
        self,
        config: Config,
        *,
        role: str = "cli",
        client: ComfyClient | None = None,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
        follow_logs: bool = False,
        restore: bool = True,
        own_jobs_only: bool = False,
    ) -> None:
        """``restore=False``: the journal's jobs are not read here; ``await restore_journal()`` later
        (the dashboard does, off the event loop, after its first frame).

        ``own_jobs_only``: the session follows only the jobs this process queues (``comfytui run``),
        so it reads no more than that needs: the journal's unfinished jobs only; no
        ``/system_stats`` on connect; no ``/queue`` + ``/history`` resync on the first connect
        while none of its jobs is unfinished (a reconnect still resyncs in full); and ``/queue``
        again only when a ``status`` message's queue size disagrees with the book, or after a
        job was queued with the socket down."""
        self.config = config
        self.client = client or ComfyClient(config.server)
        self._lock = _ClientIdLock()
        if config.server.client_id:
            self.client_id = config.server.client_id
        elif role == "dashboard":
            self.client_id = self._lock.acquire()
        else:
            self.client_id = new_client_id()
        self.book = JobBook(OWN_CLIENT_PREFIX, max_finished=max(config.ui.history_items, 50) * 5)
        self.journal = journal if journal is not None else Journal()
        self.clock = clock
        self.follow_logs = follow_logs
        self.own_jobs_only = own_jobs_only
        self.connection = ConnectionInfo(url=self.client.display_url)
        self.system_stats: dict[str, Any] = {}
        self.features: dict[str, Any] = {}
        self.logs: deque[ev.LogEntry] = deque(maxlen=config.ui.log_lines)
        self.latest_preview: ev.PreviewImage | None = None
        self.preview_job: str | None = None
        self._listeners: list[Listener] = []
        self.malformed_count = 0
        """Frames and /queue, /history entries skipped as malformed since the session began."""
        self.malformed_reason = ""
        self._queue_dirty = asyncio.Event()
        self._queue_unseen = False
        """own_jobs_only: a job was queued with the socket down; /queue must be read."""
        self._settling: set[str] = set()
        self._journaled_finished: set[str] = set()
        self._seen_history: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected_once = False
        self._down_since: float | None = None
        self._submitting: set[str] = set()
        """Jobs whose POST /prompt has not returned: absent from any snapshot taken meanwhile."""
        self.client.on_malformed = self._on_malformed
        self._stream = ComfyStream(
            self.client,
            self.client_id,
            config.reconnect,
            subscribe_logs=follow_logs,
            poll_interval_s=config.server.poll_interval_s,
        )
        if restore:
            self._restore_journal()

    # -- listeners

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _emit(self, event: object, changed: set[str] | frozenset[str] = frozenset()) -> None:
        update = SessionUpdate(event, frozenset(changed))
        for listener in list(self._listeners):
            try:
                listener(update)
            except Exception:
                # A broken view must not take the connection down with it.
                log.exception("a session listener failed on %s", type(event).__name__)

    def _on_malformed(self, bad: ev.Malformed) -> None:
        """Count a skipped frame or entry; the header shows "N malformed messages skipped"."""
        self.malformed_count += 1
        self.malformed_reason = f"{bad.kind}: {bad.reason}"
        log.warning("skipped malformed %s (%s); it began %s", bad.kind, bad.reason, bad.head)
        self._emit(bad)

    def _apply(self, event: object, at: float | None = None) -> set[str]:
        try:
            changed = self.book.apply(event, self.clock() if at is None else at)
        except Exception as exc:  # noqa: BLE001 - an event the reducer cannot fold is skipped, not fatal
            self._on_malformed(protocol.malformed(f"{type(event).__name__} event", exc, event))
            return set()
        for pid in changed:
            job = self.book.jobs.get(pid)
            if job is not None and job.state.finished and pid not in self._journaled_finished and not job.foreign:
                self._journaled_finished.add(pid)
                self.journal.finished(job, self.client.url)
        self._emit(event, changed)
        return changed

    # -- the run loop

    async def run(self) -> None:
        """Follow the server until cancelled (the dashboard) or until the caller stops iterating."""
        refresher = asyncio.create_task(self._queue_refresher(), name="comfytui-queue-refresher")
        self._tasks.add(refresher)
        try:
            await self._follow()
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._tasks.clear()

    async def _follow(self) -> None:
        """The stream, restarted with backoff whenever it ends other than by giving up
        (``ServerUnreachable`` after ``max_attempts``) or cancellation: a bug or a hostile server
        costs a reconnect, never the session."""
        failures = 0
        while True:
            try:
                async for event in self._stream.events():
                    failures = 0
                    try:
                        await self._handle(event)
                    except ComfyTuiError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - one bad event is skipped
                        self._on_malformed(protocol.malformed(f"{type(event).__name__} event", exc, event))
                reason = "the event stream ended"
            except ServerUnreachable:
                raise
            except (ComfyTuiError, Exception) as exc:  # noqa: BLE001
                log.exception("the session's event stream failed; restarting it")
                reason = f"internal error ({type(exc).__name__}: {exc})"
            failures += 1
            delay = backoff_delay(failures, self.config.reconnect)
            if self._down_since is None:
                self._down_since = self.clock()
            self.connection = ConnectionInfo(
                "disconnected", self.client.display_url, f"{reason}; restarting", delay, failures, self.connection.version
            )
            self._emit(ev.Disconnected(self.client.display_url, f"{reason}; restarting", delay, failures))
            await asyncio.sleep(delay)

    async def _handle(self, event: object) -> None:
        match event:
            case ev.Malformed():
                self._on_malformed(event)
            case ev.Connected():
                await self._on_connected(event)
            case ev.Disconnected():
                if self._down_since is None:
                    self._down_since = self.clock()
                self.connection = ConnectionInfo(
                    "disconnected", event.url, event.reason, event.retry_in_s, event.attempt, self.connection.version
                )
                self._emit(event)
            case ev.Status():
                self._apply(event)
                if not self.own_jobs_only or self._queue_in_doubt(event.queue_remaining):
                    self._queue_dirty.set()
            case ev.Executing(prompt_id=pid, node=None) if pid:
                self._apply(event)
                self._settle([pid])
            case ev.PreviewImage():
                self.latest_preview = event
                self.preview_job = event.prompt_id or self.book.running_id
                self._emit(event)
            case ev.LogEntries():
                self.logs.extend(event.entries)
                self._emit(event)
            case ev.FeatureFlags():
                self.features = dict(event.flags)
                self._emit(event)
            case _:
                self._apply(event)

    async def _on_connected(self, event: ev.Connected) -> None:
        version = self.connection.version
        if not self.own_jobs_only:  # a script has no use for the version; its jobs wait on this
            with contextlib.suppress(ComfyTuiError):
                stats = await self.client.system_stats()
                self.system_stats = stats.raw
                version = stats.comfyui_version or version
        self.connection = ConnectionInfo("connected", event.url, "", None, 0, version, event.via)
        down_since, self._down_since = self._down_since, None
        self._emit(event)
        if self.follow_logs:
            with contextlib.suppress(ComfyTuiError):
                backlog = await self.client.logs_raw()
                known = set(self.logs)
                fresh = tuple(e for e in backlog.entries if e not in known)
                self.logs.extend(fresh)
                self._emit(ev.LogEntries(fresh, backlog=True))
        await self.resync(after_reconnect=self._connected_once, down_since=down_since)
        self._connected_once = True

    async def resync(self, after_reconnect: bool = False, down_since: float | None = None) -> None:
        """Rebuild the picture from HTTP after a (re)connect (COMFY_API.md §3.3)."""
        # Only jobs known before the fetch can have vanished: one submitted while the fetch is
        # in flight is simply not in the (older) snapshot yet.
        candidates = {
            pid for pid, job in self.book.jobs.items() if not job.state.finished and pid not in self._submitting
        }
        if self.own_jobs_only and not after_reconnect and not candidates and not self._submitting:
            # Nothing of ours can have changed unseen: jobs queued from now on report on this socket.
            return
        try:
            queue = await self.client.queue()
            history = await self.client.history(max_items=self.config.ui.history_items)
        except ComfyTuiError:
            return
        self._apply(queue)
        history_ids = {h.prompt_id for h in history}
        restarted = after_reconnect and bool(self._seen_history) and not (self._seen_history & history_ids)
        self._seen_history |= history_ids
        in_queue = {q.prompt_id for q in queue.running + queue.pending}
        vanished = [
            pid
            for pid in candidates
            if (job := self.book.jobs.get(pid)) is not None
            and not job.state.finished
            and pid not in in_queue
            and pid not in history_ids
        ]
        self._apply(ev.HistorySnapshot(tuple(history), complete=True))
        if vanished:
            if after_reconnect or restarted or not self._connected_once:
                # Gone from both queue and history across a disconnect (or since we last ran):
                # the server restarted and dropped them.
                self._apply(ev.ServerRestarted(tuple(vanished)), at=down_since)
            else:
                self._settle(vanished)

    def _queue_in_doubt(self, queue_remaining: int) -> bool:
        """Whether the server's queue size (pending + running) differs from the book's: a job of
        another client came or went, or one of ours left without a word (deleted elsewhere). Jobs
        whose POST is in flight may or may not be counted yet."""
        unfinished = sum(1 for job in self.book.jobs.values() if not job.state.finished)
        return not unfinished - len(self._submitting) <= queue_remaining <= unfinished

    async def _queue_refresher(self) -> None:
        while True:
            await self._queue_dirty.wait()
            await asyncio.sleep(QUEUE_REFRESH_DEBOUNCE_S)  # status messages come in pairs
            self._queue_dirty.clear()
            if self.own_jobs_only and not self._queue_unseen and self.book.queue_remaining is not None \
                    and not self._queue_in_doubt(self.book.queue_remaining):
                continue  # the latest status agrees: the disagreement was a status that lagged a POST
            self._queue_unseen = False
            await self.refresh_queue()

    async def refresh_queue(self) -> None:
        try:
            queue = await self.client.queue()
        except ComfyTuiError:
            return
        before = {j.prompt_id for j in self.book.jobs.values() if not j.state.finished and j.prompt_id not in self._submitting}
        self._apply(queue)
        in_queue = {q.prompt_id for q in queue.running + queue.pending}
        left = [pid for pid in before if pid not in in_queue and pid not in self._submitting]
        if left:
            self._settle(left)

    def _settle(self, prompt_ids: list[str]) -> None:
        fresh = [p for p in prompt_ids if p not in self._settling]
        if not fresh:
            return
        self._settling.update(fresh)
        task = asyncio.create_task(self._settle_from_history(fresh), name="comfytui-settle")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_from_history(self, prompt_ids: list[str]) -> None:
        """History is written just before the final messages; a short retry covers the race."""
        pending = list(prompt_ids)
        try:
            for delay in HISTORY_SETTLE_DELAYS_S:
                if delay:
                    await asyncio.sleep(delay)
                found: list[ev.HistoryEntry] = []
                still: list[str] = []
                for pid in pending:
                    job = self.book.get(pid)
                    if job is not None and job.state.finished and not job.finishing:
                        continue
                    try:
                        entry = await self.client.history_entry(pid)
                    except ComfyTuiError:
                        return
                    if entry is not None:
                        found.append(entry)
                    else:
                        still.append(pid)
                if found:
                    self._seen_history.update(e.prompt_id for e in found)
                    self._apply(ev.HistorySnapshot(tuple(found)))
                pending = [p for p in still if (j := self.book.get(p)) is not None and not j.state.finished]
                if not pending:
                    return
                # Still queued? Then it has not left after all (a refresh raced us).
                try:
                    queue = await self.client.queue()
                except ComfyTuiError:
                    return
                in_queue = {q.prompt_id for q in queue.running + queue.pending}
                pending = [p for p in pending if p not in in_queue]
                if not pending:
                    return
            self._apply(ev.HistorySnapshot((), missing=tuple(pending)))
        finally:
            self._settling.difference_update(prompt_ids)

    # -- the journal

    async def restore_journal(self) -> None:
        """The journal's jobs into the book, the store read in a thread (before ``run()``)."""
        self._restore_journal(await asyncio.to_thread(self._journal_records))

    def _journal_records(self) -> list[Any]:
        if self.own_jobs_only:  # finished jobs stay in the store: nothing here waits for them
            return [JournalRecord(row) for row in self.journal.store.on_server(self.client.url)]
        return self.journal.records(self.client.url)

    def _restore_journal(self, records: list[Any] | None = None) -> None:
        if records is None:
            records = self._journal_records()
        for record in records[-self.book.max_finished :]:
            job = record.to_job(OWN_CLIENT_PREFIX)
            self.book.jobs[job.prompt_id] = job
            if job.state.finished:
                self._journaled_finished.add(job.prompt_id)

    # -- intents

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        label: str = "",
        batch: str = "",
        workflow: Mapping[str, Any] | None = None,
        front: bool = False,
        extra_data: Mapping[str, Any] | None = None,
        prompt_id: str | None = None,
    ) -> Job:
        # the local queue gives its job id; newer servers accept only canonical UUIDs
        prompt_id = canonical_prompt_id(prompt_id) if prompt_id else str(uuid.uuid4())
        # Tracked (and journaled) before the POST returns: the first websocket events can beat
        # the HTTP reply, and a crash right after queueing must not lose the job.
        job = Job(
            prompt_id,
            client_id=self.client_id,
            prompt=dict(prompt),
            label=label,
            batch=batch,
            created_at=self.clock(),
        )
        self.book.track(job)
        self._submitting.add(prompt_id)
        # queued while the socket is down (or not yet up): its messages may never reach us
        unseen = self.connection.state != "connected"
        try:
            submitted: Submitted = await self.client.submit(
                prompt,
                client_id=self.client_id,
                prompt_id=prompt_id,
                front=front,
                extra_pnginfo={"workflow": dict(workflow)} if workflow else None,
                extra_data=extra_data,
            )
        except BaseException:
            self.book.jobs.pop(prompt_id, None)
            raise
        finally:
            self._submitting.discard(prompt_id)
        tracked = self.book.jobs[prompt_id]
        if tracked.number is None:
            self.book.jobs[prompt_id] = dataclasses.replace(tracked, number=submitted.number)
        self.journal.submitted(self.book.jobs[prompt_id], self.client.url)
        self._emit(ev.QueueSnapshot((), ()), {prompt_id})
        if not self.own_jobs_only or unseen or self.connection.state != "connected":
            self._queue_unseen = self.own_jobs_only
            self._queue_dirty.set()
        return self.book.jobs[prompt_id]

    def reconnect_now(self) -> None:
        self._stream.reconnect_now()

    async def cancel(self, prompt_id: str) -> str:
        """Remove a pending job, or interrupt it if it is running. Returns what was done."""
        job = self.book.get(prompt_id)
        outcome = await self.client.cancel(prompt_id)  # jobs API cancel, else /queue delete + /interrupt
        if outcome.interrupted or (job is not None and job.state == JobState.RUNNING):
            return "interrupted"
        await self.refresh_queue()
        job = self.book.get(prompt_id)
        if job is not None and job.state == JobState.PENDING:
            # A job deleted while pending never gets a history entry: no need to wait for one.
            queue = await self.client.queue()
            if prompt_id not in {q.prompt_id for q in queue.running + queue.pending}:
                self._apply(ev.HistorySnapshot((), missing=(prompt_id,)))
        return "cancelled"

    async def interrupt(self, prompt_id: str | None = None) -> None:
        await self.client.interrupt(prompt_id or self.book.running_id)

    async def clear_pending(self) -> None:
        await self.client.clear_pending()
        await self.refresh_queue()

    async def wait_for(self, prompt_ids: list[str]) -> list[Job]:
        """Wait until every job has finished (for the headless CLI); needs ``run`` going.
        Bound it with ``asyncio.timeout`` where needed."""
        done = asyncio.Event()

        def check(_update: SessionUpdate | None = None) -> None:
            if all((j := self.book.get(p)) is not None and j.state.finished and not j.finishing for p in prompt_ids):
                done.set()

        self.add_listener(check)
        try:
            check()
            await done.wait()
        finally:
            self.remove_listener(check)
        return [self.book.jobs[p] for p in prompt_ids]

    async def aclose(self) -> None:
        await self.client.aclose()
        self._lock.release()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
