"""The user's notification command (``[notify] command``), run when a dispatched job ends."""

from __future__ import annotations

import asyncio
import logging

from comfytui.core.config import NotifySettings
from comfytui.core.store.db import StoredJob

log = logging.getLogger(__name__)


def notify_argv(settings: NotifySettings, job: StoredJob) -> list[str] | None:
    if not settings.command or job.state not in settings.on:
        return None
    duration = "" if job.duration_s is None else f"{job.duration_s:.1f}s"
    values = {"id": job.id, "label": job.label or job.id[:8], "state": job.state, "duration": duration}
    return [part.format(**values) for part in settings.command]


async def notify(settings: NotifySettings, job: StoredJob, timeout_s: float = 10.0) -> None:
    argv = notify_argv(settings, job)
    if argv is None:
        return
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
        async with asyncio.timeout(timeout_s):
            await proc.wait()
    except (OSError, TimeoutError) as exc:
        log.warning("notification command %s failed: %s", argv[0], exc)
