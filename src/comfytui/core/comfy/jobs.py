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


def _replace(job: Job, /, **changes: Any) -> Job:
    """``dataclasses.replace`` for ``Job`` without its per-call field walk and ``__init__`` with
    keywords: it ran on every progress message and was the largest single cost of
    ``JobBook.apply`` (bench/ingest.py). Same result, no validation: callers pass real fields."""
    new = object.__new__(Job)
    for name in _JOB_FIELDS:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(job, name))
    return new

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
        if self.jobs.get(job.prompt_id) != job:
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
        match event:
            case ev.Status(queue_remaining=remaining):
                self.queue_remaining = remaining
            case ev.ExecutionStart(prompt_id=pid, timestamp=ts):
                job = self._job_for(pid)
                if job is not None and not job.state.finished:
                    self._start(job, _seconds(ts, now), changed)
            case ev.ExecutionCached(prompt_id=pid, nodes=nodes):
                job = self._job_for(pid)
                if job is not None and nodes:
                    done = job._finished_nodes | frozenset(nodes)
                    cached = job.cached_nodes | frozenset(nodes)
                    self._put(_replace(job, _finished_nodes=done, nodes_done=len(done), cached_nodes=cached), changed)
            case ev.Executing(prompt_id=pid, node=node):
                job = self._job_for(pid)
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
            case ev.Progress(prompt_id=pid, node=node, value=value, max=maximum):
                job = self._job_for(pid)
                if job is not None and not job.state.finished:
                    self._progress(job, node, value, maximum, now, changed)
            case ev.ProgressState(prompt_id=pid, nodes=nodes):
                job = self._job_for(pid)
                if job is not None and not job.state.finished:
                    finished = frozenset(k for k, n in nodes.items() if n.state == "finished") | job._finished_nodes
                    if finished != job._finished_nodes:  # most progress_state messages finish no node
                        job = _replace(job, _finished_nodes=finished, nodes_done=len(finished))
                    running = [n for n in nodes.values() if n.state == "running"]
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
            case ev.Executed(prompt_id=pid, node=node, output=output):
                job = self._job_for(pid)
                if job is not None and output:
                    files = _merge_files(job.outputs, ev_output_files(node, output))
                    self._put(_replace(job, outputs=files), changed)
            case ev.ExecutionSuccess(prompt_id=pid, timestamp=ts):
                job = self._job_for(pid)
                if job is not None:
                    self._finish(job, JobState.SUCCESS, _seconds(ts, now), changed, nodes_done=job.nodes_total or job.nodes_done)
            case ev.ExecutionError() as error:
                job = self._job_for(error.prompt_id)
                if job is not None:
                    self._finish(job, JobState.ERROR, _seconds(error.timestamp, now), changed, error=error)
            case ev.ExecutionInterrupted(prompt_id=pid, timestamp=ts):
                job = self._job_for(pid)
                if job is not None:
                    self._finish(job, JobState.INTERRUPTED, _seconds(ts, now), changed)
            case ev.QueueSnapshot():
                self._queue(event, now, changed)
            case ev.HistorySnapshot():
                self._history(event, changed)
            case ev.ServerRestarted(lost=lost):
                for pid in lost:
                    job = self.jobs.get(pid)
                    if job is not None and not job.state.finished:
                        self._finish(job, JobState.LOST, now, changed)
                self.running_id = None
        # Only a job that just finished can push the book over its limit: scanning every job on
        # every progress message made ingest O(book size) per message (bench/ingest.py).
        if len(self.jobs) > self.max_finished and any(
            (j := self.jobs.get(pid)) is not None and j.state.finished for pid in changed
        ):
            self._trim()
        return changed

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
        for other in list(self.jobs.values()):
            if other.state == JobState.PENDING and other.position:
                self.jobs[other.prompt_id] = _replace(other, position=other.position - 1)
                changed.add(other.prompt_id)
        self._put(started, changed)
        return started

    def _progress(self, job: Job, node: str | None, value: int, maximum: int, now: float, changed: set[str]) -> None:
        if node is not None and node != job.node:
            class_type, title = job.title_of(node)
            job = _replace(job, node=node, node_class=class_type, node_title=title, rate=None, _step_mark=None)
        rate = job.rate
        mark = job._step_mark
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
        self._put(_replace(job, step=value, steps=maximum, rate=rate, eta_s=eta, _step_mark=mark), changed)

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
        finished = [pid for pid, j in self.jobs.items() if j.state.finished]
        for pid in finished[: max(0, len(finished) - self.max_finished)]:
            del self.jobs[pid]


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
