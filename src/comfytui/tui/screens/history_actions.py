"""Queueing a stored job again from the dashboard: as it was (History ``R``) or through the
parameter form prefilled with its values (History ``E``, the Queue pane's ``e`` on a held job)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from comfytui.core.errors import ComfyTuiError
from comfytui.core.store.db import StoredJob

if TYPE_CHECKING:
    from comfytui.tui.services import Services


def requeue_seed_mode(job: StoredJob) -> str:
    """``randomize``/``increment``/``decrement`` when the job's workflow says so for its seeds
    (``control_after_generate``), else ``fixed``: the frontend would give a new seed too."""
    from comfytui.core.queue.submit import seed_controls

    modes = set(seed_controls(job.workflow, job.prompt, None, match_value=False).values()) - {"fixed"}
    for mode in ("randomize", "increment", "decrement"):
        if mode in modes:
            return mode
    return "fixed"


async def requeue(services: Services, job: StoredJob) -> tuple[StoredJob, list[str]]:
    """A new job from ``job``, in the local queue (or straight to ComfyUI when no dispatcher runs).
    Returns it and lines for the user (the seed mode, a cache hit)."""
    from comfytui.core.queue import ops
    from comfytui.core.queue.submit import identical_to, uses_local_queue

    store = services.store
    if store is None:
        raise ComfyTuiError("the job store is not available")
    server = services.session.client.url
    mode = requeue_seed_mode(job)
    copy = ops.requeued_copy(job, seed_mode=mode, server=server)
    notes = [f"new seeds ({mode})"] if mode != "fixed" else []
    if mode == "fixed":
        same = await identical_to(store, server, copy.prompt)
        if same:
            notes.append(same)
    if await uses_local_queue(store, server):
        await ops.enqueue(store, [copy])
    else:
        await ops.send_now(store, services.session.client, copy, services.session.client_id)
    return copy, notes


def _file_name(job: StoredJob) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", re.sub(r" #\d+/\d+$", "", job.label or "job")).strip("._") or "job"
    return f"{stem.removesuffix('.json')}-{job.id[:8]}.json"


async def edit_and_requeue(app: Any, services: Services, job: StoredJob, *, replaces: str | None = None) -> list[str]:
    """Open the parameter form on ``job``'s prompt; returns the ids it queued. ``replaces``: a
    held job the new one takes the place of (cancelled once the form has queued)."""
    import json

    from comfytui.core import paths
    from comfytui.core.workflows.library import WorkflowEntry

    if not job.prompt:
        app.notify(f"job {job.id[:8]} has no stored prompt to edit", severity="warning")
        return []
    try:
        from comfytui.tui.screens.workflow_form import WorkflowFormScreen
    except ModuleNotFoundError:
        app.notify("the parameter form is not available in this build", severity="warning")
        return []
    # The form opens workflow files: the job's prompt becomes one, private like the store.
    target = paths.state_dir() / "edits" / _file_name(job)
    text = json.dumps(job.prompt, indent=1)
    await asyncio.to_thread(lambda: (paths.ensure(target.parent), paths.write_private(target, text)))
    name = re.sub(r" #\d+/\d+$", "", job.label) or target.name
    entry = WorkflowEntry(name, target, "user", len(text), time.time(), format="api")
    form = WorkflowFormScreen(services, entry)
    await app.push_screen_wait(form)
    queued = list(getattr(form, "queued", []) or [])
    if queued and replaces and services.store is not None:
        from comfytui.core.queue import ops

        try:
            await ops.replace_held(services.store, replaces, queued)
        except ComfyTuiError as exc:
            app.notify(f"the edited job was queued at the end; the held one stays: {exc}", severity="warning")
        else:
            app.notify(f"the edited job took the place of the held job {replaces[:8]}")
    return queued
