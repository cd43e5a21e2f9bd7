"""The one submit path: a prompt, turned into a batch and queued through a ``ComfySession``.

``comfytui run``, the dashboard's ``r``/``R`` and the workflow form all call ``submit_batch`` so
that seeds, labels, batch names and at-the-front ordering are the same everywhere.

Where the jobs go: when a dispatcher runs for the session's server (the dashboard's own, or
``comfytui daemon``), or the queue is paused, they are added to the local queue in the store
(docs/QUEUE.md) and the dispatcher sends them in order; otherwise straight to ComfyUI.

Seeds like the frontend: ``frontend_seeds`` gives an editor-format workflow's seed inputs new
values each time it is queued, following the ``control_after_generate`` value saved after each
seed (randomize, increment, decrement; fixed keeps it). ``identical_to`` finds a job that already
ran the same prompt, whose outputs ComfyUI would answer from its cache.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from comfytui.core.logs import strip_controls
from comfytui.core.workflows.batch import batch_name, build_batch, job_label
from comfytui.core.workflows.params import SEED_MODES, next_seed, seed_inputs

if TYPE_CHECKING:
    from comfytui.core.comfy.jobs import Job
    from comfytui.core.comfy.session import ComfySession
    from comfytui.core.store.db import Store, StoredJob

__all__ = ["SEED_MODES", "SubmittedBatch", "frontend_seeds", "identical_to", "submit_batch", "uses_local_queue"]

CONTROL_MODES = ("fixed", "increment", "decrement", "randomize")


@dataclass(frozen=True)
class SubmittedBatch:
    """What ``submit_batch`` queued: the jobs in batch order (job #1 first) and their batch name.

    ``local``: the jobs went to the local queue (a dispatcher sends them), not to ComfyUI yet."""

    jobs: tuple[Job, ...]
    batch: str
    local: bool = False

    @property
    def prompt_ids(self) -> list[str]:
        return [job.prompt_id for job in self.jobs]


def _store_of(session: ComfySession) -> Store | None:
    journal = getattr(session, "journal", None)
    return getattr(journal, "store", None)


async def uses_local_queue(store: Store, server: str) -> bool:
    """True when a live dispatcher (any process) or a paused queue means new jobs wait locally."""

    def check() -> bool:
        return store.dispatcher(server) is not None or store.paused(server)

    return await store.call(check)


async def submit_batch(
    session: ComfySession,
    prompt: Mapping[str, Any],
    *,
    count: int = 1,
    seed_mode: str = "fixed",
    object_info: dict[str, Any] | None = None,
    front: bool = False,
    label: str = "",
    batch: str = "",
    workflow: Mapping[str, Any] | None = None,
    extra_data: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
    on_queued: Callable[[Job, str], None] | None = None,
    source: str = "",
    local_queue: bool | None = None,
) -> SubmittedBatch:
    """Build ``count`` prompts from ``prompt`` and queue them.

    - ``seed_mode``: one of ``SEED_MODES`` (``fixed``, ``increment``, ``decrement``,
      ``randomize``); job #1 keeps the seeds of ``prompt``. ``object_info`` tells which inputs are
      seeds and their bounds (without it, inputs named like seeds are used).
    - ``front``: queue at the front; the batch is sent backwards so job #1 still runs first.
    - ``label``: each job's label (``label #i/N`` in a batch); ``batch``: the batch's name
      (default ``label ×N HH:MM:SS`` when ``count > 1``).
    - ``workflow``: the editor-format workflow, embedded in the outputs' PNG info.
    - ``on_queued(job, job_label)``: called as each job is accepted, so a caller interrupted
      half-way (Ctrl+C) knows what is already queued.
    - ``source``: the workflow file, kept with local jobs (History, requeue, seeds).
    - ``local_queue``: True/False forces the local queue / direct submission; None (default)
      uses the local queue when a dispatcher runs for the server or its queue is paused.

    Raises ``InputError`` for a bad count or seed mode (before anything is queued) and whatever
    ``ComfySession.submit`` raises (``PromptRejected``, ``ServerUnreachable``...) for a job that
    was refused; jobs queued before it stay queued.
    """
    prompts = build_batch(dict(prompt), count, seed_mode, object_info, rng or random.Random())
    # a label is often a file name, which may hold terminal escapes: it is shown and stored inert
    label, batch = strip_controls(label), strip_controls(batch)
    name = batch_name(label, len(prompts), batch)
    store = _store_of(session)
    if local_queue is None:
        local_queue = store is not None and await uses_local_queue(store, session.client.url)
    if local_queue and store is not None:
        return await _enqueue_locally(
            store, session.client.url, prompts, object_info, front=front, label=label, batch=name,
            workflow=workflow, source=source, on_queued=on_queued,
        )
    queued: list[tuple[int, Job]] = []
    order = list(enumerate(prompts))
    for index, one in reversed(order) if front else order:
        this_label = job_label(label, index, len(prompts))
        job = await session.submit(
            one, label=this_label, batch=name, workflow=workflow, front=front, extra_data=extra_data
        )
        queued.append((index, job))
        if on_queued is not None:
            on_queued(job, this_label)
    return SubmittedBatch(tuple(job for _, job in sorted(queued, key=lambda pair: pair[0])), name)


async def _enqueue_locally(
    store: Store,
    server: str,
    prompts: list[dict[str, Any]],
    object_info: dict[str, Any] | None,
    *,
    front: bool,
    label: str,
    batch: str,
    workflow: Mapping[str, Any] | None,
    source: str,
    on_queued: Callable[[Job, str], None] | None,
) -> SubmittedBatch:
    from comfytui.core.comfy.jobs import Job
    from comfytui.core.store.db import StoredJob, new_job_id

    now = time.time()
    rows = [
        StoredJob(
            id=new_job_id(), server=server, label=job_label(label, index, len(prompts)), batch=batch,
            source=source, workflow=dict(workflow) if workflow else None, prompt=one, created_at=now,
            seeds=[one[n]["inputs"][k] for n, k in seed_inputs(one, object_info)],
        )
        for index, one in enumerate(prompts)
    ]
    await store.call(store.add, rows, front=front)
    # Stand-ins for the book's jobs: the dispatcher sends them under these ids.
    jobs = tuple(Job(prompt_id=r.id, prompt=r.prompt, label=r.label, batch=r.batch, created_at=now) for r in rows)
    if on_queued is not None:
        for job in jobs:
            on_queued(job, job.label)
    return SubmittedBatch(jobs, batch, local=True)


# -- seeds like the frontend


def seed_controls(
    workflow: Mapping[str, Any] | None,
    prompt: Mapping[str, Any],
    object_info: dict[str, Any] | None,
    *,
    match_value: bool = True,
) -> dict[tuple[str, str], str]:
    """``(node_id, input) -> control_after_generate`` for the prompt's seed inputs, read from the
    editor workflow: in ``widgets_values`` the control follows its seed's value. Without
    ``match_value`` (the prompt's seeds were changed since) the first number followed by a
    control is taken."""
    if not workflow or not isinstance(workflow.get("nodes"), list):
        return {}
    nodes = {str(n.get("id")): n for n in workflow["nodes"] if isinstance(n, dict)}
    found: dict[tuple[str, str], str] = {}
    for node_id, name in seed_inputs(dict(prompt), object_info):
        values = (nodes.get(str(node_id)) or {}).get("widgets_values")
        if not isinstance(values, list):
            continue
        value = prompt[node_id]["inputs"][name]
        for index, item in enumerate(values[:-1]):
            control = values[index + 1]
            matches = item == value if match_value else isinstance(item, int)
            if matches and not isinstance(item, bool) and control in CONTROL_MODES:
                found[(node_id, name)] = control
                break
    return found


def frontend_seeds(
    prompt: Mapping[str, Any],
    workflow: Mapping[str, Any] | None,
    object_info: dict[str, Any] | None,
    last: StoredJob | None,
    rng: random.Random | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The prompt to queue now from a workflow whose seeds carry a ``control_after_generate``.

    The file holds the value the frontend would queue next: the first time it is queued as is.
    After that (``last``: the newest job from this file) the control is applied to the seed used
    last time, so each ``r`` gets a new seed (randomize: a new draw; increment/decrement: ±1). Returns the
    prompt and one line per seed changed (``"KSampler.seed 12 -> 13 (increment)"``)."""
    import copy

    from comfytui.core.workflows.convert import spec_options
    from comfytui.core.workflows.params import _specs

    out = copy.deepcopy(dict(prompt))
    notes: list[str] = []
    rng = rng or random.Random()
    for (node_id, name), mode in seed_controls(workflow, prompt, object_info).items():
        if mode == "fixed":
            continue
        previous = ((last.prompt.get(node_id) or {}).get("inputs") or {}).get(name) if last else None
        current = out[node_id]["inputs"][name]
        if not isinstance(previous, int) or isinstance(previous, bool):
            continue  # never queued from this file: the saved value is the one to queue
        spec = _specs(object_info, str(out[node_id].get("class_type", ""))).get(name)
        opts = spec_options(spec) if spec else {}
        lo, hi = int(opts.get("min", 0)), int(opts.get("max", 0xFFFFFFFFFFFFFFFF))
        new = next_seed(previous, mode, 1, lo, hi, rng)
        out[node_id]["inputs"][name] = new
        title = (out[node_id].get("_meta") or {}).get("title") or out[node_id].get("class_type") or node_id
        notes.append(f"{title}.{name} {current} -> {new} ({mode})")
    return out, notes


async def identical_to(store: Store, server: str, prompt: Mapping[str, Any]) -> str | None:
    """A line for the user when a job already ran exactly this prompt: ComfyUI answers it from
    its cache (it runs nothing and writes no new output) when that job was the last one."""
    job, latest = await store.call(store.identical_success, server, dict(prompt))
    if job is None:
        return None
    name = f"{job.id[:8]}" + (f" ({job.label})" if job.label else "")
    if latest:
        return f"identical to job {name}: ComfyUI will answer from its cache"
    return f"identical to job {name}: ComfyUI may answer from its cache"
