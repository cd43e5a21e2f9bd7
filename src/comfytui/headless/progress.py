"""Progress lines on stderr for headless commands: one updating line on a terminal, a line per
change (throttled) otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from comfytui.core.comfy.jobs import Job, JobState
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.logs import strip_controls


def format_job(job: Job) -> str:
    parts = [job.prompt_id[:8], str(job.state)]
    if job.state == JobState.PENDING and job.position is not None:
        parts.append(f"#{job.position + 1} in queue")
    if job.state == JobState.RUNNING:
        if job.nodes_total:
            parts.append(f"nodes {job.nodes_done}/{job.nodes_total}")
        if job.node:
            parts.append(f"node {job.node} {job.node_title or job.node_class or ''}".rstrip())
        if job.steps:
            parts.append(f"step {job.step}/{job.steps}")
        if job.rate:
            parts.append(f"{job.rate:.1f} it/s")
        if job.eta_s is not None:
            parts.append(f"ETA {job.eta_s:.1f}s")
    if job.state.finished and job.duration_s is not None:
        parts.append(f"in {job.duration_s:.2f}s")
    return " ".join(parts)


class ProgressPrinter:
    def __init__(self, session: ComfySession, *, quiet: bool = False, stream: TextIO | None = None, interval_s: float = 0.5) -> None:
        self.session = session
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval_s = interval_s if not self.tty else 0.1
        self.ids: list[str] = []
        self._last_line = ""
        self._last_time = 0.0
        self._announced: set[str] = set()

    def watch(self, ids: list[str]) -> None:
        self.ids = ids
        if not self.quiet:
            self.session.add_listener(self._on_update)

    def _on_update(self, update: SessionUpdate) -> None:
        from comfytui.core.comfy import events as ev

        if isinstance(update.event, ev.Disconnected):
            self._write(f"server down: {update.event.reason}; retrying in {update.event.retry_in_s or 0:.1f}s", force=True)
            return
        if isinstance(update.event, ev.Connected) and update.event.reconnect:
            self._write("reconnected", force=True)
            return
        for pid in self.ids:
            if pid not in update.changed:
                continue
            job = self.session.book.get(pid)
            if job is None:
                continue
            if job.state.finished and pid not in self._announced:
                self._announced.add(pid)
                self._write(format_job(job), force=True)
            elif not job.state.finished:
                self._write(format_job(job))

    def _write(self, line: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (line == self._last_line or now - self._last_time < self.interval_s):
            return
        self._last_line, self._last_time = line, now
        line = strip_controls(line)  # node titles, reasons: text from the server or a workflow file
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if force else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.session.remove_listener(self._on_update)
        if self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
