"""The job tracker: a pure reducer folding events into job records.

``JobBook.apply(event, now)`` does no I/O and reads no clock: ``now`` (epoch seconds) is passed
in, so replays are deterministic. It returns the ids of the jobs that changed.

States: pending (with queue position) -> running (node, step, nodes done, it/s, ETA) -> success |
error | interrupted; cancelled (left the queue without running); lost (gone in a server restart).
Jobs submitted by other clients (the web UI, curl) are learnt from ``/queue`` and ``/history``
snapshots and marked ``foreign``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from comfytui.core.comfy import events as ev

RATE_WINDOW_S = 0.5


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def finished(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class Job:
    prompt_id: str
    state: JobState = JobState.PENDING
    foreign: bool = False
    client_id: str | None = None
    number: float | None = None
    position: int | None = None
    """0-based place among pending jobs, in run order."""
    prompt: dict[str, Any] = field(default_factory=dict, repr=False)
    label: str = ""
    """What the user called it: a workflow file name."""
    batch: str = ""
    """The batch this job belongs to (jobs queued together with --count or the form)."""
    created_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    node: str | None = None
    node_class: str | None = None
    node_title: str | None = None
    step: int = 0
    steps: int = 0
    nodes_done: int = 0
    nodes_total: int = 0
    rate: float | None = None
    """Steps per second of the current node (smoothed)."""
    eta_s: float | None = None
    outputs: tuple[ev.OutputFile, ...] = ()
    error: ev.ExecutionError | None = None
    finishing: bool = False
    """The server said the job is done (``executing`` null); its history entry is due."""
    cached_nodes: frozenset[str] = frozenset()
    """Nodes ComfyUI answered from its cache (``execution_cached``)."""
    _step_mark: tuple[str, int, float] | None = field(default=None, repr=False)
    _finished_nodes: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at
        return None if end is None else max(0.0, end - self.started_at)

    @property
    def fully_cached(self) -> bool:
        """ComfyUI answered every node from its cache: the job ran nothing."""
        nodes = {n for n, v in self.prompt.items() if isinstance(v, dict) and "class_type" in v}
        return bool(nodes) and nodes <= self.cached_nodes

    @property
    def step_fraction(self) -> float:
        return self.step / self.steps if self.steps else 0.0

    @property
    def node_fraction(self) -> float:
        return self.nodes_done / self.nodes_total if self.nodes_total else 0.0

    def title_of(self, node_id: str | None) -> tuple[str | None, str | None]:
        """(class_type, title) of a node of this job's prompt; path ids fall back to the outer node."""
        if not node_id:
            return None, None
        node = self.prompt.get(node_id)
        if node is None and ":" in node_id:
            node = self.prompt.get(node_id.split(":")[-1])
        if not isinstance(node, dict):
            return None, None
        class_type = node.get("class_type")
        return class_type, (node.get("_meta") or {}).get("title") or class_type



_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
_ACTIVE = (JobState.PENDING, JobState.RUNNING)
_KEEP: Any = object()


def _make_replace() -> Any:
    """``dataclasses.replace`` for ``Job``, generated once as straight-line code: one keyword per
    field and each slot written through its own descriptor. ``dataclasses.replace`` (a metadata
    walk and a keyword ``__init__`` per call) was the largest single cost of ``JobBook.apply``
    (bench/ingest.py). Same result, no validation: callers pass real fields."""
    params = ", ".join(f"{name}=_KEEP" for name in _JOB_FIELDS)
    body = "\n".join(
        f"    _set_{i}(new, job.{name} if {name} is _KEEP else {name})" for i, name in enumerate(_JOB_FIELDS)
    )
    source = f"def _replace(job, /, *, {params}):\n    new = _new(Job)\n{body}\n    return new\n"
    namespace: dict[str, Any] = {"_KEEP": _KEEP, "_new": object.__new__, "Job": Job}
    namespace.update({f"_set_{i}": getattr(Job, name).__set__ for i, name in enumerate(_JOB_FIELDS)})
    exec(source, namespace)  # noqa: S102 - our own field names, generated at import
    return namespace["_replace"]


_replace = _make_replace()


class JobBook:
    """All jobs comfytui knows, keyed by prompt id, in first-seen order."""

    def __init__(self, own_client_prefix: str = "comfytui-", max_finished: int = 1000) -> None:
        self.jobs: dict[str, Job] = {}
        self.own_client_prefix = own_client_prefix
        self.max_finished = max_finished
        self.running_id: str | None = None
        self.queue_remaining: int | None = None

    # -- queries

    def get(self, prompt_id: str) -> Job | None:
        return self.jobs.get(prompt_id)

    def active(self) -> list[Job]:
        """Running first, then pending in run order."""
        jobs = [j for j in self.jobs.values() if not j.state.finished]
        return sorted(jobs, key=lambda j: (j.state != JobState.RUNNING, j.position if j.position is not None else 1e9, j.number or 0))

    def finished(self) -> list[Job]:
        """Newest first."""
        jobs = [j for j in self.jobs.values() if j.state.finished]
        return sorted(jobs, key=lambda j: j.ended_at or j.started_at or j.created_at or 0, reverse=True)

    def is_foreign(self, client_id: str | None) -> bool:
        return not (isinstance(client_id, str) and client_id.startswith(self.own_client_prefix))

    # -- updates

    def track(self, job: Job) -> str:
        """Add a job we submitted (before the server says anything about it)."""
        existing = self.jobs.get(job.prompt_id)
        if existing is None:
            self.jobs[job.prompt_id] = _replace(job, nodes_total=job.nodes_total or _count_nodes(job.prompt))
        return job.prompt_id

    def _put(self, job: Job, changed: set[str]) -> None:
        known = self.jobs.get(job.prompt_id)
        if known is not job and known != job:
            self.jobs[job.prompt_id] = job
            changed.add(job.prompt_id)

    def _job_for(self, prompt_id: str | None) -> Job | None:
        if prompt_id is None:
            prompt_id = self.running_id
        if prompt_id is None:
            return None
        job = self.jobs.get(prompt_id)
        if job is None:
            # An event for a job we never saw queued (submitted before we connected, or by a
            # client without our id): start a record; /queue or /history fills in the rest.
            job = Job(prompt_id, foreign=True)
            self.jobs[prompt_id] = job
        return job

    def apply(self, event: object, now: float) -> set[str]:
        changed: set[str] = set()
        # One handler per event type, looked up by type: a ``match`` over class patterns tested
        # the event against each case in turn, on every message (bench/ingest.py).
        kind = type(event)
        handler = _HANDLERS.get(kind)
        if handler is None and kind not in _IGNORED:
            handler = _handler_for(kind)
        if handler is not None:
            handler(self, event, now, changed)
        # Only a job that just finished can push the book over its limit: scanning every job on
        # every progress message made ingest O(book size) per message (bench/ingest.py).
        if changed and len(self.jobs) > self.max_finished and any(
            (j := self.jobs.get(pid)) is not None and j.state.finished for pid in changed
        ):
            self._trim()
        return changed

    # -- one handler per event type (``_HANDLERS``)

    def _on_status(self, event: ev.Status, now: float, changed: set[str]) -> None:
        self.queue_remaining = event.queue_remaining

    def _on_execution_start(self, event: ev.ExecutionStart, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None and not job.state.finished:
            self._start(job, _seconds(event.timestamp, now), changed)

    def _on_execution_cached(self, event: ev.ExecutionCached, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        nodes = event.nodes
        if job is not None and nodes:
            done = job._finished_nodes | frozenset(nodes)
            cached = job.cached_nodes | frozenset(nodes)
            self._put(_replace(job, _finished_nodes=done, nodes_done=len(done), cached_nodes=cached), changed)

    def _on_executing(self, event: ev.Executing, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        node = event.node
        if job is None:
            pass
        elif node is None:
            if not job.state.finished:
                self._put(_replace(job, finishing=True, node=None, eta_s=None), changed)
            if self.running_id == job.prompt_id:
                self.running_id = None
        elif job.state.finished:
            pass  # a late or replayed message (reconnect replay) never revives a finished job
        else:
            if job.state != JobState.RUNNING:
                job = self._start(job, now, changed)
            class_type, title = job.title_of(node)
            self._put(
                _replace(job, node=node, node_class=class_type, node_title=title, step=0, steps=0, rate=None, eta_s=None),
                changed,
            )

    def _on_progress(self, event: ev.Progress, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None and not job.state.finished:
            self._progress(job, event.node, event.value, event.max, now, changed)

    def _on_progress_state(self, event: ev.ProgressState, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is None or job.state.finished:
            return
        known = job._finished_nodes
        fresh = [k for k, n in event.nodes.items() if n.state == "finished" and k not in known]
        if fresh:  # most progress_state messages finish no node
            finished = known | frozenset(fresh)
            job = _replace(job, _finished_nodes=finished, nodes_done=len(finished))
        running = [n for n in event.nodes.values() if n.state == "running"]
        if job.state != JobState.RUNNING:
            job = self._start(job, now, changed)
        if running:
            current = running[-1]
            if current.node_id != job.node:
                class_type, title = job.title_of(current.node_id)
                job = _replace(job, node=current.node_id, node_class=class_type, node_title=title, step=0, steps=0, rate=None, eta_s=None)
            self._progress(job, current.node_id, int(current.value), int(current.max), now, changed)
        else:
            self._put(job, changed)

    def _on_executed(self, event: ev.Executed, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None and event.output:
            files = _merge_files(job.outputs, ev_output_files(event.node, event.output))
            self._put(_replace(job, outputs=files), changed)

    def _on_execution_success(self, event: ev.ExecutionSuccess, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None:
            self._finish(job, JobState.SUCCESS, _seconds(event.timestamp, now), changed, nodes_done=job.nodes_total or job.nodes_done)

    def _on_execution_error(self, event: ev.ExecutionError, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None:
            self._finish(job, JobState.ERROR, _seconds(event.timestamp, now), changed, error=event)

    def _on_execution_interrupted(self, event: ev.ExecutionInterrupted, now: float, changed: set[str]) -> None:
        job = self._job_for(event.prompt_id)
        if job is not None:
            self._finish(job, JobState.INTERRUPTED, _seconds(event.timestamp, now), changed)

    def _on_queue(self, event: ev.QueueSnapshot, now: float, changed: set[str]) -> None:
        self._queue(event, now, changed)

    def _on_history(self, event: ev.HistorySnapshot, now: float, changed: set[str]) -> None:
        self._history(event, changed)

    def _on_server_restarted(self, event: ev.ServerRestarted, now: float, changed: set[str]) -> None:
        for pid in event.lost:
            job = self.jobs.get(pid)
            if job is not None and not job.state.finished:
                self._finish(job, JobState.LOST, now, changed)
        self.running_id = None

    # -- helpers

    def _start(self, job: Job, at: float, changed: set[str]) -> Job:
        started = _replace(
            job,
            state=JobState.RUNNING,
            started_at=job.started_at or at,
            position=None,
            nodes_total=job.nodes_total or _count_nodes(job.prompt),
        )
        self.running_id = job.prompt_id
        pending = JobState.PENDING
        # ``position`` first: it is None for every finished job, the bulk of a long-lived book
        for other in [j for j in self.jobs.values() if j.position and j.state == pending]:
            self.jobs[other.prompt_id] = _replace(other, position=other.position - 1)
            changed.add(other.prompt_id)
        self._put(started, changed)
        return started

    def _progress(self, job: Job, node: str | None, value: int, maximum: int, now: float, changed: set[str]) -> None:
        node_changed = node is not None and node != job.node
        rate = None if node_changed else job.rate
        mark = None if node_changed else job._step_mark
        key = node or ""
        if mark is None or mark[0] != key or value < mark[1]:
            mark = (key, value, now)
        elif value > mark[1] and now - mark[2] >= RATE_WINDOW_S:
            # Measured over a window, not per message: frames that queued up while the loop was
            # busy arrive in a burst with nearly equal timestamps and would read as huge rates.
            instant = (value - mark[1]) / (now - mark[2])
            rate = instant if rate is None else 0.5 * rate + 0.5 * instant
            mark = (key, value, now)
        eta = (maximum - value) / rate if rate and maximum >= value else None
        if node_changed:
            class_type, title = job.title_of(node)
            updated = _replace(job, node=node, node_class=class_type, node_title=title, step=value, steps=maximum,
                               rate=rate, eta_s=eta, _step_mark=mark)
        elif (value == job.step and maximum == job.steps and rate == job.rate and eta == job.eta_s
              and mark == job._step_mark):
            # ``progress_state`` repeats the step a ``progress`` message just gave: no copy, no change
            self._put(job, changed)
            return
        else:
            updated = _replace(job, step=value, steps=maximum, rate=rate, eta_s=eta, _step_mark=mark)
        self.jobs[updated.prompt_id] = updated
        changed.add(updated.prompt_id)

    def _finish(self, job: Job, state: JobState, at: float, changed: set[str], **more: Any) -> None:
        if job.state.finished and job.state != JobState.LOST and state == JobState.LOST:
            return
        self._put(
            _replace(job, state=state, ended_at=job.ended_at or at, position=None, eta_s=None, rate=None, **more),
            changed,
        )
        if self.running_id == job.prompt_id:
            self.running_id = None

    def _queue(self, snap: ev.QueueSnapshot, now: float, changed: set[str]) -> None:
        seen: set[str] = set()
        for item in snap.running:
            seen.add(item.prompt_id)
            job = self._known(item, changed)
            if job.state.finished:
                continue  # a stale snapshot (fetched before the job ended) never revives it
            if job.state != JobState.RUNNING:
                self._start(self.jobs[item.prompt_id], now, changed)
            self.running_id = item.prompt_id
        for position, item in enumerate(snap.pending):
            seen.add(item.prompt_id)
            job = self._known(item, changed)
            if not job.state.finished:
                self._put(_replace(job, state=JobState.PENDING, position=position), changed)
        if self.running_id and self.running_id not in seen:
            self.running_id = None

    def _known(self, item: ev.QueueItem, changed: set[str]) -> Job:
        job = self.jobs.get(item.prompt_id)
        created_ms = _ms(item.create_time_ms)
        created = created_ms / 1000 if created_ms else None
        if job is None:
            job = Job(
                item.prompt_id,
                foreign=self.is_foreign(item.client_id),
                client_id=item.client_id,
                number=item.number,
                prompt=item.prompt,
                created_at=created,
                nodes_total=_count_nodes(item.prompt),
            )
        else:
            job = _replace(
                job,
                number=item.number,
                client_id=job.client_id or item.client_id,
                # The server's record of who submitted it wins over a guess made from an event.
                foreign=self.is_foreign(job.client_id or item.client_id),
                prompt=job.prompt or item.prompt,
                created_at=job.created_at or created,
                nodes_total=job.nodes_total or _count_nodes(item.prompt),
            )
        self._put(job, changed)
        return job

    def _history(self, snap: ev.HistorySnapshot, changed: set[str]) -> None:
        for entry in snap.entries:
            job = self.jobs.get(entry.prompt_id)
            state = {"success": JobState.SUCCESS, "interrupted": JobState.INTERRUPTED}.get(entry.status, JobState.ERROR)
            created = _ms(entry.extra_data.get("create_time"))
            if job is None:
                job = Job(
                    entry.prompt_id,
                    foreign=self.is_foreign(entry.client_id),
                    client_id=entry.client_id,
                    number=entry.number,
                    prompt=entry.prompt,
                    created_at=created / 1000 if created else None,
                    nodes_total=_count_nodes(entry.prompt),
                )
            elif job.state == JobState.LOST:
                continue
            updated = _replace(
                job,
                state=state,
                client_id=job.client_id or entry.client_id,
                foreign=self.is_foreign(job.client_id or entry.client_id),
                prompt=job.prompt or entry.prompt,
                started_at=_seconds(entry.started_ms, job.started_at) if _ms(entry.started_ms) else job.started_at,
                ended_at=_seconds(entry.ended_ms, job.ended_at) if _ms(entry.ended_ms) else job.ended_at,
                outputs=entry.outputs or job.outputs,
                error=entry.error or job.error,
                position=None,
                eta_s=None,
                rate=None,
                finishing=False,
                nodes_done=job.nodes_total if state == JobState.SUCCESS and job.nodes_total else job.nodes_done,
            )
            self._put(updated, changed)
            if self.running_id == entry.prompt_id:
                self.running_id = None
        for pid in snap.missing:
            job = self.jobs.get(pid)
            if job is None or job.state.finished:
                continue
            # Left the queue without a history entry: deleted while pending, or lost with the server.
            state = JobState.CANCELLED if job.state == JobState.PENDING else JobState.LOST
            self._finish(job, state, job.ended_at or job.started_at or job.created_at or 0.0, changed)

    def _trim(self) -> None:
        # ``not in _ACTIVE`` is ``state.finished`` without a property call per job of the book
        finished = [pid for pid, j in self.jobs.items() if j.state not in _ACTIVE]
        for pid in finished[: max(0, len(finished) - self.max_finished)]:
            del self.jobs[pid]


_HANDLERS: dict[type, Any] = {
    ev.Status: JobBook._on_status,
    ev.ExecutionStart: JobBook._on_execution_start,
    ev.ExecutionCached: JobBook._on_execution_cached,
    ev.Executing: JobBook._on_executing,
    ev.Progress: JobBook._on_progress,
    ev.ProgressState: JobBook._on_progress_state,
    ev.Executed: JobBook._on_executed,
    ev.ExecutionSuccess: JobBook._on_execution_success,
    ev.ExecutionError: JobBook._on_execution_error,
    ev.ExecutionInterrupted: JobBook._on_execution_interrupted,
    ev.QueueSnapshot: JobBook._on_queue,
    ev.HistorySnapshot: JobBook._on_history,
    ev.ServerRestarted: JobBook._on_server_restarted,
}
_IGNORED: set[type] = set()
"""Event types the reducer has no handler for (logs, previews...), learnt as they come."""


def _handler_for(kind: type) -> Any:
    """A subclass of an event type gets its base's handler (as a class pattern would match it)."""
    for base, handler in _HANDLERS.items():
        if issubclass(kind, base):
            _HANDLERS[kind] = handler
            return handler
    _IGNORED.add(kind)
    return None


def _count_nodes(prompt: Any) -> int:
    if not isinstance(prompt, dict):
        return 0
    return sum(1 for n in prompt.values() if isinstance(n, dict) and "class_type" in n)


def _seconds(timestamp_ms: Any, now: float) -> float:
    """A server timestamp in seconds; one that is not a finite positive number reads as ``now``."""
    ms = _ms(timestamp_ms)
    return ms / 1000 if ms else now


def _ms(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e15:
        return None  # also false for NaN
    return float(value)


def ev_output_files(node: str, output: dict[str, Any]) -> tuple[ev.OutputFile, ...]:
    from comfytui.core.comfy.protocol import output_files

    return output_files({node: output})


def _merge_files(old: tuple[ev.OutputFile, ...], new: tuple[ev.OutputFile, ...]) -> tuple[ev.OutputFile, ...]:
    seen = set(old)
    return old + tuple(f for f in new if f not in seen)
