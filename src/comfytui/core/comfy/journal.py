"""The session's view of the store: jobs as the job book knows them (``comfy.jobs.Job``).

ComfyUI keeps history in memory only (COMFY_API.md §1.7), so a server restart forgets every
finished job, and a comfytui restart would forget which jobs were ours. The session records here
each job it sends (``submitted``) and each outcome (``finished``); on start it restores them
(``records``). Rows live in the SQLite store (``store.db``); this module only translates.

Writes from the session run on the store's thread (the session calls them from its event loop).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import Job, JobState
from comfytui.core.store.db import FINISHED, Store, StoredJob, open_store, server_key


def error_to_dict(error: ev.ExecutionError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "node_id": error.node_id,
        "node_type": error.node_type,
        "exception_type": error.exception_type,
        "exception_message": error.exception_message,
        "traceback": list(error.traceback),
    }


def outputs_to_lists(outputs: tuple[ev.OutputFile, ...]) -> list[list[str]]:
    return [[o.filename, o.subfolder, o.type, o.node_id, o.kind] for o in outputs]


def output_files(row: StoredJob) -> tuple[ev.OutputFile, ...]:
    return tuple(ev.OutputFile(*o) for o in row.outputs if len(o) == 5)


def row_to_job(row: StoredJob, own_prefix: str) -> Job:
    error = None
    if row.error:
        error = ev.ExecutionError(
            prompt_id=row.id,
            node_id=row.error.get("node_id"),
            node_type=row.error.get("node_type"),
            exception_type=row.error.get("exception_type", ""),
            exception_message=row.error.get("exception_message", ""),
            traceback=tuple(row.error.get("traceback", ())),
        )
    return Job(
        prompt_id=row.id,
        # Not finished: the resync after connecting says where it is now (or that it was lost).
        state=JobState(row.state) if row.state in FINISHED else JobState.PENDING,
        foreign=not row.client_id.startswith(own_prefix),
        client_id=row.client_id,
        number=row.number,
        prompt=row.prompt,
        label=row.label,
        batch=row.batch,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outputs=output_files(row),
        error=error,
    )


@dataclass
class JournalRecord:
    """One job as restored; kept for callers of the jsonl journal's API."""

    row: StoredJob

    @property
    def prompt_id(self) -> str:
        return self.row.id

    @property
    def state(self) -> str | None:
        return self.row.state if self.row.state in FINISHED else None

    @property
    def label(self) -> str:
        return self.row.label

    def to_job(self, own_prefix: str) -> Job:
        return row_to_job(self.row, own_prefix)


class Journal:
    def __init__(self, path: Path | None = None, store: Store | None = None, *, restore_limit: int = 1000) -> None:
        self.store = store or open_store(path)
        self.restore_limit = restore_limit
        """How many of a server's newest jobs ``records`` restores. ``comfytui run`` needs only
        those the server's /history can still list (each restored row costs ~0.1 ms at start-up)."""

    def submitted(self, job: Job, server: str) -> None:
        self.store.defer(self._submitted, job, server)

    def _submitted(self, job: Job, server: str) -> None:
        now = time.time()
        existing = self.store.get(job.prompt_id)
        if existing is not None:
            # Sent by the dispatcher from the local queue: the row is there already.
            changes: dict[str, Any] = {"dispatched_at": existing.dispatched_at or now, "number": job.number}
            if existing.state == "queued":
                changes["state"] = "pending"
            self.store.update(job.prompt_id, **changes)
            return
        self.store.upsert(stored_job(job, server, state="pending", dispatched_at=now))

    def finished(self, job: Job, server: str) -> None:
        self.store.defer(record_finished, self.store, job, server)

    def records(self, server: str | None = None) -> list[JournalRecord]:
        """Our jobs that reached ``server``, oldest first (after every write queued so far)."""
        self.store.flush()
        if server is None:
            rows = self.store._query("SELECT id FROM jobs WHERE dispatched_at IS NOT NULL ORDER BY dispatched_at")
            return [JournalRecord(r) for r in (self.store.get(x[0]) for x in rows) if r is not None]
        return [JournalRecord(r) for r in self.store.jobs_for(server, limit=self.restore_limit)]


def record_finished(store: Store, job: Job, server: str) -> None:
    """Store a job's outcome (ours or foreign), creating its row when it is new to the store."""
    changes: dict[str, Any] = {
        "state": str(job.state),
        "started_at": job.started_at,
        "ended_at": job.ended_at if job.ended_at is not None else time.time(),
        "outputs": outputs_to_lists(job.outputs),
        "error": error_to_dict(job.error),
    }
    if store.update(job.prompt_id, only_if_state=("queued", "pending", "running", "lost"), **changes):
        return
    if store.get(job.prompt_id) is not None:
        return  # already settled: a second observer (the dashboard beside the daemon) says it again
    store.upsert(stored_job(job, server_key(server), dispatched_at=job.created_at or job.started_at, **changes))


def stored_job(job: Job, server: str, **fields: Any) -> StoredJob:
    """The store's row for a job of the book: what both know, plus ``fields``."""
    return StoredJob(
        id=job.prompt_id,
        server=server,
        label=job.label,
        batch=job.batch,
        prompt=job.prompt,
        client_id=job.client_id or "",
        foreign=job.foreign,
        number=job.number,
        created_at=job.created_at,
        **fields,
    )
