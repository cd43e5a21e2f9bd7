"""Small pure formatting helpers for the panes (testable without a terminal)."""

from __future__ import annotations

import time

from comfytui.core.comfy.jobs import Job, JobState

STATE_GLYPHS = {
    JobState.PENDING: "…",
    JobState.RUNNING: "▶",
    JobState.SUCCESS: "✔",
    JobState.ERROR: "✖",
    JobState.INTERRUPTED: "■",
    JobState.CANCELLED: "⊘",
    JobState.LOST: "?",
}

STATE_STYLES = {
    JobState.PENDING: "dim",
    JobState.RUNNING: "bold cyan",
    JobState.SUCCESS: "green",
    JobState.ERROR: "bold red",
    JobState.INTERRUPTED: "yellow",
    JobState.CANCELLED: "dim",
    JobState.LOST: "yellow",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size(num: float | None) -> str:
    if num is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(num) < 1024 or unit == "TiB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} TiB"


def clock(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def job_label(job: Job) -> str:
    if job.label:
        return job.label
    classes = [n.get("class_type", "?") for n in job.prompt.values() if isinstance(n, dict)]
    outputs = [c for c in classes if c.startswith(("Save", "Preview"))]
    return (outputs[-1] if outputs else (classes[-1] if classes else "job")) + f" {job.prompt_id[:8]}"


def origin(job: Job) -> str:
    if job.foreign:
        return "foreign" + (f" ({job.client_id[:10]})" if job.client_id else "")
    return "comfytui"
