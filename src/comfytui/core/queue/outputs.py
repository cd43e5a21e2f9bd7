"""Collecting finished jobs' outputs into ``[outputs] dir``: date folders, names from a template,
one file per content hash, and a ``.json`` sidecar per file saying where it came from.

File names come from the server: a name that would leave the folder (``..``, separators, an
absolute subfolder) is refused with a message, through ``client.safe_output_path``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from comfytui import __version__
from comfytui.core import paths
from comfytui.core.comfy import events as ev
from comfytui.core.comfy.client import ComfyClient, safe_output_path
from comfytui.core.config import OutputSettings
from comfytui.core.errors import ComfyTuiError, InputError
from comfytui.core.store.db import Store, StoredJob


@dataclass
class Collected:
    files: list[Path] = field(default_factory=list)
    """One path per server output, in order (a duplicate points at the first copy)."""
    new: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def output_dir(settings: OutputSettings) -> Path:
    return Path(settings.dir).expanduser() if settings.dir else paths.data_dir() / "outputs"


def _clean(text: str, limit: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:limit] or "job"


def target_name(template: str, job: StoredJob, file: ev.OutputFile, n: int) -> PurePosixPath:
    when = time.localtime(job.ended_at or time.time())
    suffix = PurePosixPath(file.filename).suffix
    fields: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d", when),
        "label": _clean(job.label or PurePosixPath(job.source).name or "job"),
        "id": job.id,
        "id8": job.id[:8],
        "n": n,
        "ext": suffix,
        "node": _clean(file.node_id or "node"),
        "filename": _clean(PurePosixPath(file.filename).stem),
    }
    try:
        name = PurePosixPath(template.format(**fields))
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"[outputs] template {template!r}: {exc}") from None
    if name.is_absolute() or ".." in name.parts:
        raise InputError(f"[outputs] template {template!r} leaves the output folder")
    return name


def sidecar(job: StoredJob, file: ev.OutputFile, digest: str, server_path: str) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "label": job.label,
        "batch": job.batch,
        "server": job.server,
        "server_file": server_path,
        "sha256": digest,
        "node_id": file.node_id,
        "seeds": job.seeds,
        "params": job.params,
        "workflow_source": job.source or ("embedded" if job.workflow else ""),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "comfytui_version": __version__,
        "prompt": job.prompt,
        "workflow": job.workflow,
    }


def _write_new(directory: Path, relative: PurePosixPath, data: bytes, meta: dict[str, Any]) -> Path:
    target = directory / Path(*relative.parts)
    paths.ensure(target.parent)
    stem, suffix, k = target.stem, target.suffix, 1
    while target.exists():  # a different file already has this name: keep both
        k += 1
        target = target.with_name(f"{stem}_{k}{suffix}")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    side = target.with_name(target.name + ".json")
    side.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return target


async def collect_outputs(
    store: Store, client: ComfyClient, job: StoredJob, settings: OutputSettings, directory: Path | None = None
) -> Collected:
    """Download a finished job's outputs (skipping content already collected)."""
    root = directory or output_dir(settings)
    result = Collected()
    for n, raw in enumerate(job.outputs, start=1):
        file = ev.OutputFile(*raw)
        try:
            safe_output_path(root, file)
        except InputError as exc:
            result.refused.append(str(exc))
            continue
        try:
            data = await client.view(file)
        except ComfyTuiError as exc:
            result.refused.append(f"could not fetch {file.filename}: {exc}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        known = await store.call(store.collected_path, digest)
        if known and await asyncio.to_thread(Path(known).exists):
            result.files.append(Path(known))
            continue
        relative = target_name(settings.template, job, file, n)
        server_path = f"{file.type}/{file.subfolder}/{file.filename}".replace("//", "/")
        path = await asyncio.to_thread(_write_new, root, relative, data, sidecar(job, file, digest, server_path))
        await store.call(store.record_collected, digest, str(path), job.id)
        result.files.append(path)
        result.new.append(path)
    return result
