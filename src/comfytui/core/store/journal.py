"""The journal: comfytui's own record of the jobs it submitted, kept across restarts.

ComfyUI keeps history in memory only (COMFY_API.md §1.7), so a server restart forgets every
finished job, and a comfytui restart would forget which jobs were ours. The journal is an
append-only JSON-lines file in the state dir: one ``submitted`` record per job, one ``finished``
record when its outcome is known (state, times, output files, error). It is compacted when large.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfytui.core import paths
from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import Job, JobState

MAX_BYTES = 8 * 1024 * 1024
KEEP_JOBS = 2000


@dataclass
class JournalRecord:
    prompt_id: str
    server: str
    label: str = ""
    batch: str = ""
    client_id: str = ""
    created_at: float | None = None
    prompt: dict[str, Any] = field(default_factory=dict)
    state: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    outputs: list[list[str]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    def to_job(self, own_prefix: str) -> Job:
        files = tuple(ev.OutputFile(*o) for o in self.outputs if len(o) == 5)
        error = None
        if self.error:
            error = ev.ExecutionError(
                prompt_id=self.prompt_id,
                node_id=self.error.get("node_id"),
                node_type=self.error.get("node_type"),
                exception_type=self.error.get("exception_type", ""),
                exception_message=self.error.get("exception_message", ""),
                traceback=tuple(self.error.get("traceback", ())),
            )
        return Job(
            prompt_id=self.prompt_id,
            state=JobState(self.state) if self.state else JobState.PENDING,
            foreign=not self.client_id.startswith(own_prefix),
            client_id=self.client_id,
            prompt=self.prompt,
            label=self.label,
            batch=self.batch,
            created_at=self.created_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            outputs=files,
            error=error,
        )


class Journal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.state_dir() / "jobs.jsonl"

    def _append(self, record: dict[str, Any]) -> None:
        paths.ensure(self.path.parent)
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
        try:
            if self.path.stat().st_size > MAX_BYTES:
                self.compact()
        except OSError:
            pass

    def submitted(self, job: Job, server: str) -> None:
        self._append(
            {
                "type": "submitted",
                "prompt_id": job.prompt_id,
                "server": server,
                "label": job.label,
                "batch": job.batch,
                "client_id": job.client_id or "",
                "created_at": job.created_at,
                "prompt": job.prompt,
            }
        )

    def finished(self, job: Job, server: str) -> None:
        error = None
        if job.error is not None:
            error = {
                "node_id": job.error.node_id,
                "node_type": job.error.node_type,
                "exception_type": job.error.exception_type,
                "exception_message": job.error.exception_message,
                "traceback": list(job.error.traceback),
            }
        self._append(
            {
                "type": "finished",
                "prompt_id": job.prompt_id,
                "server": server,
                "state": str(job.state),
                "started_at": job.started_at,
                "ended_at": job.ended_at,
                "outputs": [[o.filename, o.subfolder, o.type, o.node_id, o.kind] for o in job.outputs],
                "error": error,
            }
        )

    def records(self, server: str | None = None) -> list[JournalRecord]:
        """Jobs in submission order, merged from their records; a corrupt line is skipped."""
        merged: dict[str, JournalRecord] = {}
        try:
            handle = open(self.path, encoding="utf-8")
        except OSError:
            return []
        with handle:
            for line in handle:
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
                if not isinstance(raw, dict) or "prompt_id" not in raw:
                    continue
                if server is not None and raw.get("server") != server:
                    continue
                pid = raw["prompt_id"]
                record = merged.get(pid) or JournalRecord(prompt_id=pid, server=raw.get("server", ""))
                if raw.get("type") == "submitted":
                    record.label = raw.get("label") or ""
                    record.batch = raw.get("batch") or ""
                    record.client_id = raw.get("client_id") or ""
                    record.created_at = raw.get("created_at")
                    record.prompt = raw.get("prompt") or {}
                elif raw.get("type") == "finished":
                    record.state = raw.get("state")
                    record.started_at = raw.get("started_at")
                    record.ended_at = raw.get("ended_at")
                    record.outputs = raw.get("outputs") or []
                    record.error = raw.get("error")
                merged[pid] = record
        return list(merged.values())

    def compact(self) -> None:
        records = self.records()[-KEEP_JOBS:]
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for rec in records:
                handle.write(json.dumps({"type": "submitted", **_submitted_fields(rec)}, default=str) + "\n")
                if rec.state:
                    handle.write(json.dumps({"type": "finished", **_finished_fields(rec)}, default=str) + "\n")
        os.replace(tmp, self.path)


def _submitted_fields(rec: JournalRecord) -> dict[str, Any]:
    return {k: getattr(rec, k) for k in ("prompt_id", "server", "label", "batch", "client_id", "created_at", "prompt")}


def _finished_fields(rec: JournalRecord) -> dict[str, Any]:
    return {k: getattr(rec, k) for k in ("prompt_id", "server", "state", "started_at", "ended_at", "outputs", "error")}


def ids(records: Iterable[JournalRecord]) -> list[str]:
    return [r.prompt_id for r in records]
