"""The one submit path: a prompt, turned into a batch and queued through a ``ComfySession``.

``comfytui run``, the dashboard's ``r``/``R`` and the workflow form all call ``submit_batch`` so
that seeds, labels, batch names and at-the-front ordering are the same everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from comfytui.core.workflows.batch import batch_name, build_batch, job_label
from comfytui.core.workflows.params import SEED_MODES

if TYPE_CHECKING:
    from comfytui.core.comfy.jobs import Job
    from comfytui.core.comfy.session import ComfySession

__all__ = ["SEED_MODES", "SubmittedBatch", "submit_batch"]


@dataclass(frozen=True)
class SubmittedBatch:
    """What ``submit_batch`` queued: the jobs in batch order (job #1 first) and their batch name."""

    jobs: tuple[Job, ...]
    batch: str

    @property
    def prompt_ids(self) -> list[str]:
        return [job.prompt_id for job in self.jobs]


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
) -> SubmittedBatch:
    """Build ``count`` prompts from ``prompt`` and queue them on ``session``.

    - ``seed_mode``: one of ``SEED_MODES`` (``fixed``, ``increment``, ``decrement``,
      ``randomize``); job #1 keeps the seeds of ``prompt``. ``object_info`` tells which inputs are
      seeds and their bounds (without it, inputs named like seeds are used).
    - ``front``: queue at the front; the batch is sent backwards so job #1 still runs first.
    - ``label``: each job's label (``label #i/N`` in a batch); ``batch``: the batch's name
      (default ``label ×N HH:MM:SS`` when ``count > 1``).
    - ``workflow``: the editor-format workflow, embedded in the outputs' PNG info.
    - ``on_queued(job, job_label)``: called as each job is accepted, so a caller interrupted
      half-way (Ctrl+C) knows what is already on the server.

    Raises ``InputError`` for a bad count or seed mode (before anything is queued) and whatever
    ``ComfySession.submit`` raises (``PromptRejected``, ``ServerUnreachable``...) for a job that
    was refused; jobs queued before it stay queued.
    """
    prompts = build_batch(dict(prompt), count, seed_mode, object_info, rng or random.Random())
    name = batch_name(label, len(prompts), batch)
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
