"""Queue operations as plain async functions: the dashboard, the palette and the CLI share them.

Each takes the store and (where the server is involved) a ``ComfyClient``; SQLite work runs on
the store's thread. Jobs of other clients (foreign) may be cancelled, never reordered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.errors import ComfyTuiError, InputError
from comfytui.core.store.db import FINISHED, LOCAL, PRIORITIES, Store, StoredJob, new_job_id, server_key

OWN_CLIENT_PREFIX = "comfytui-"


@dataclass(frozen=True)
class QueueStatus:
    server: str
    paused: bool
    dispatcher: dict[str, Any] | None
    jobs: list[StoredJob]


async def status(store: Store, server: str) -> QueueStatus:
    """The run order for the Queue pane and ``queue ls``: on the server first, then local."""
    def read() -> QueueStatus:
        lock = store.dispatcher(server)
        holder = None if lock is None else {"pid": lock.pid, "host": lock.host, "heartbeat": lock.heartbeat}
        return QueueStatus(server_key(server), store.paused(server), holder, store.queue_rows(server))

    return await store.call(read)


async def enqueue(store: Store, jobs: Sequence[StoredJob], *, front: bool = False) -> list[StoredJob]:
    return await store.call(store.add, list(jobs), front=front)


async def pause(store: Store, server: str) -> None:
    """Nothing new is sent; the running job (and what is already on the server) carries on."""
    await store.call(store.set_paused, server, True)


async def resume(store: Store, server: str) -> None:
    await store.call(store.set_paused, server, False)


async def _local(store: Store, job_id: str, what: str) -> StoredJob:
    job = await store.call(store.get, job_id)
    if job is None:
        raise InputError(f"no job {job_id}")
    if job.foreign:
        raise InputError(f"job {job_id[:8]} belongs to another client: it can be cancelled, not {what}")
    if job.state != LOCAL:
        raise InputError(f"job {job_id[:8]} is {job.state}, not in the local queue: it cannot be {what}")
    return job


async def hold(store: Store, job_id: str) -> StoredJob:
    job = await _local(store, job_id, "held")
    await store.call(store.update, job_id, held=True, only_if_state=(LOCAL,))
    return replace(job, held=True)


async def release(store: Store, job_id: str) -> StoredJob:
    job = await _local(store, job_id, "released")
    await store.call(store.update, job_id, held=False, only_if_state=(LOCAL,))
    return replace(job, held=False)


async def move(store: Store, job_id: str, where: str) -> StoredJob:
    await _local(store, job_id, "reordered")
    return await store.call(store.move, job_id, where)


async def set_priority(store: Store, job_id: str, level: str) -> StoredJob:
    await _local(store, job_id, "reprioritised")
    return await store.call(store.set_priority, job_id, level)


async def replace_held(store: Store, job_id: str, new_ids: Sequence[str]) -> int:
    """The jobs ``new_ids`` (an edit of the held job ``job_id``) take its place in the local queue,
    and it is cancelled. Returns how many took its place."""
    moved = await store.call(store.take_place, list(new_ids), job_id)
    if moved is None:
        raise InputError(f"job {job_id[:8]} is no longer waiting in the local queue")
    return moved


async def cancel(store: Store, client: ComfyClient, job_id: str) -> str:
    """Local: cancelled here. Pending on the server: deleted from ComfyUI's queue. Running:
    interrupted. A job only the server knows (foreign) is cancelled there. Returns what was done."""
    job = await store.call(store.get, job_id)
    now = time.time()
    if job is not None and job.state == LOCAL:
        if await store.call(store.update, job_id, state="cancelled", ended_at=now, only_if_state=(LOCAL,)):
            return "cancelled"
        job = await store.call(store.get, job_id)  # a dispatcher sent it meanwhile
    if job is not None and job.state in FINISHED:
        raise InputError(f"job {job_id[:8]} has already finished ({job.state})")
    queue = await client.queue()
    if job_id in {q.prompt_id for q in queue.running}:
        await client.cancel(job_id)  # jobs API cancel where the server has it, else /interrupt
        return "interrupted"
    if job_id in {q.prompt_id for q in queue.pending}:
        await client.cancel(job_id)
        if job is not None:
            await store.call(store.update, job_id, state="cancelled", ended_at=now, only_if_state=("pending", "running"))
        return "cancelled"
    if job is None:
        raise InputError(f"no job {job_id} here or in the server's queue")
    return "gone"


async def clear(store: Store, client: ComfyClient | None, server: str, what: str) -> int:
    """``held``: cancel held local jobs; ``local``: every local job; ``all``: those and the
    server's pending queue too. Returns how many jobs were cancelled."""
    if what not in ("held", "local", "all"):
        raise InputError(f"clear what? held, local or all (got {what!r})")
    rows = await store.call(store.queue_rows, server)
    targets = [r for r in rows if r.state == LOCAL and (r.held or what != "held")]
    now = time.time()
    count = 0
    for row in targets:
        count += bool(await store.call(store.update, row.id, state="cancelled", ended_at=now, only_if_state=(LOCAL,)))
    if what == "all" and client is not None:
        queue = await client.queue()
        pending = [q.prompt_id for q in queue.pending]
        if pending:
            await client.delete_pending(pending)
            for pid in pending:
                await store.call(store.update, pid, state="cancelled", ended_at=now, only_if_state=("pending",))
            count += len(pending)
    return count


def requeued_copy(
    job: StoredJob,
    *,
    overrides: Sequence[str] = (),
    seed_mode: str = "fixed",
    object_info: dict[str, Any] | None = None,
    server: str | None = None,
    rng: random.Random | None = None,
) -> StoredJob:
    """A new local job from a finished one: as it was, with ``--set`` overrides, or new seeds."""
    from comfytui.core.workflows.params import apply_overrides, apply_seed_mode, seed_inputs

    if not job.prompt:
        raise InputError(f"job {job.id[:8]} has no stored prompt to run again")
    prompt = apply_overrides(job.prompt, overrides, object_info) if overrides else dict(job.prompt)
    # index 1: the batch rule keeps the first job's seeds, a requeue with a seed mode wants new ones
    prompt = apply_seed_mode(prompt, seed_mode, 1, object_info, rng or random.Random())
    seeds = [prompt[n]["inputs"][k] for n, k in seed_inputs(prompt, object_info) if isinstance(prompt[n]["inputs"].get(k), int)]
    return StoredJob(
        id=new_job_id(),
        server=server or job.server,
        label=job.label,
        batch=job.batch,
        source=job.source,
        workflow=job.workflow,
        prompt=prompt,
        params=[*job.params, *overrides],
        seeds=seeds,
        priority=job.priority,
        requeued_from=job.id,
    )


async def requeue_lost(store: Store, server: str) -> list[StoredJob]:
    """Put every lost job of ours back in the local queue (new ids, as they were)."""
    from comfytui.core.store.db import HistoryFilter

    lost = await store.call(store.history, HistoryFilter(status=("lost",), server=server, foreign=False, limit=10_000))
    copies = [requeued_copy(job) for job in reversed(lost) if job.prompt]
    return await enqueue(store, copies)


async def send_now(store: Store, client: ComfyClient, job: StoredJob, client_id: str) -> StoredJob:
    """Submit a job straight to ComfyUI (no dispatcher runs), with ``prompt_id`` = its id, and record it."""
    job.server = server_key(job.server or client.url)
    job.client_id = client_id
    job.created_at = job.created_at or time.time()
    job.state = "pending"
    job.dispatched_at = time.time()
    await store.call(store.upsert, job)
    try:
        submitted = await client.submit(
            job.prompt,
            client_id=client_id,
            prompt_id=job.id,
            extra_pnginfo={"workflow": job.workflow} if job.workflow else None,
        )
    except BaseException:
        await store.call(store.delete, [job.id])
        raise
    await store.call(store.update, job.id, number=submitted.number)
    return job


def entry_to_row(entry: ev.HistoryEntry, server: str, known: StoredJob | None = None) -> StoredJob:
    """A finished job as ComfyUI's history has it (ours or another client's)."""
    status = entry.status if entry.status in ("success", "interrupted") else "error"
    error = None
    if entry.error is not None:
        error = {
            "node_id": entry.error.node_id,
            "node_type": entry.error.node_type,
            "exception_type": entry.error.exception_type,
            "exception_message": entry.error.exception_message,
            "traceback": list(entry.error.traceback),
        }
    created = entry.extra_data.get("create_time")
    client_id = (known.client_id if known else "") or entry.client_id or ""
    base = known or StoredJob(
        id=entry.prompt_id,
        server=server,
        prompt=entry.prompt,
        client_id=client_id,
        foreign=not client_id.startswith(OWN_CLIENT_PREFIX),
        created_at=created / 1000 if created else None,
    )
    return replace(
        base,
        state=status,
        number=entry.number,
        dispatched_at=base.dispatched_at or (created / 1000 if created else None),
        started_at=entry.started_ms / 1000 if entry.started_ms else base.started_at,
        ended_at=entry.ended_ms / 1000 if entry.ended_ms else (base.ended_at or time.time()),
        outputs=[[o.filename, o.subfolder, o.type, o.node_id, o.kind] for o in entry.outputs] or base.outputs,
        error=error or base.error,
    )


async def record_history(store: Store, client: ComfyClient, server: str, max_items: int = 20) -> list[str]:
    """Store the server's latest finished jobs the store does not have as finished (fast foreign
    jobs that came and went between two queue reads). Returns the ids recorded."""
    try:
        entries = await client.history(max_items=max_items)
    except ComfyTuiError:
        return []

    def merge() -> list[str]:
        done: list[str] = []
        for entry in entries:
            known = store.get(entry.prompt_id)
            if known is not None and known.state in FINISHED and known.state != "lost":
                continue
            store.upsert(entry_to_row(entry, server, known))
            done.append(entry.prompt_id)
        return done

    return await store.call(merge)


async def settle_from_server(store: Store, client: ComfyClient, jobs: Sequence[StoredJob]) -> list[StoredJob]:
    """Bring jobs the store thinks are on the server up to date from ``/queue`` and ``/history``
    (for ``wait`` when no dispatcher or dashboard is watching). A job in neither, twice, is lost."""
    queue = await client.queue()
    in_queue = {q.prompt_id: "running" for q in queue.running} | {q.prompt_id: "pending" for q in queue.pending}
    out: list[StoredJob] = []
    for job in jobs:
        if job.id in in_queue:
            if in_queue[job.id] == "running" and job.state != "running":
                await store.call(store.update, job.id, state="running", started_at=job.started_at or time.time(), only_if_state=("pending",))
            out.append(job)
            continue
        entry = await client.history_entry(job.id)
        if entry is None:
            await asyncio.sleep(0.3)  # it may be between the queue and the history
            entry = await client.history_entry(job.id)
            if entry is None and job.id not in {q.prompt_id for q in (await client.queue()).pending + (await client.queue()).running}:
                await store.call(store.update, job.id, state="lost", ended_at=time.time(), only_if_state=("pending", "running"))
            out.append(job)
            continue
        await store.call(store.upsert, entry_to_row(entry, job.server, job))
        out.append(job)
    return out


def priority_level(name: str) -> str:
    if name not in PRIORITIES:
        raise InputError(f"unknown priority {name!r}: high, normal or low")
    return name
