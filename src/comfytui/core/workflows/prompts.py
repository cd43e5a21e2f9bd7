"""From a workflow file to a prompt the server will accept: load, convert, override, preflight.

Shared by ``comfytui run`` and the dashboard. ``/object_info`` is fetched once per server and
cached on disk with a TTL (the node definitions change only when custom nodes do).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfytui.core import paths
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.errors import InputError
from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.load import load_workflow_file
from comfytui.core.workflows.params import apply_overrides


@dataclass
class ResolvedPrompt:
    prompt: dict[str, Any]
    workflow: dict[str, Any] | None
    object_info: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)
    format: str = "api"


class ObjectInfoCache:
    """``/object_info`` per server URL, in memory and on disk, refreshed after ``ttl_s``."""

    def __init__(self, ttl_s: float = 3600.0, directory: Path | None = None) -> None:
        self.ttl_s = ttl_s
        self._directory = directory
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def directory(self) -> Path:
        # Resolved on use, not at import: DEFAULT_CACHE must follow a COMFYTUI_HOME set later.
        return self._directory or paths.cache_dir() / "object_info"

    def _file(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".json")

    async def get(self, client: ComfyClient, *, refresh: bool = False) -> dict[str, Any]:
        now = time.time()
        cached = self._memory.get(client.url)
        if cached and not refresh and now - cached[0] < self.ttl_s:
            return cached[1]
        file = self._file(client.url)
        if not refresh and not cached:
            found = await asyncio.to_thread(self._read, file, now)  # ~0.5 MB of JSON: not on the loop
            if found is not None:
                self._memory[client.url] = found
                return found[1]
        info = await client.object_info()
        self._memory[client.url] = (now, info)
        await asyncio.to_thread(self._write, file, info)
        return info

    def _read(self, file: Path, now: float) -> tuple[float, dict[str, Any]] | None:
        try:
            stamp = file.stat().st_mtime
            if now - stamp < self.ttl_s:
                return stamp, json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        return None

    def _write(self, file: Path, info: dict[str, Any]) -> None:
        try:
            paths.ensure(self.directory)
            tmp = file.with_suffix(".tmp")
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, file)
        except OSError:
            pass


DEFAULT_CACHE = ObjectInfoCache()


async def resolve_prompt(
    path: Path,
    client: ComfyClient,
    *,
    overrides: list[str] | None = None,
    cache: ObjectInfoCache | None = None,
) -> ResolvedPrompt:
    # Reading (a PNG's embedded workflow too) and converting a large graph take tens of
    # milliseconds: in a thread, so the dashboard's event loop keeps drawing.
    cache = cache or DEFAULT_CACHE
    loaded = await asyncio.to_thread(load_workflow_file, path)
    object_info = await cache.get(client)
    warnings: list[str] = []
    if loaded.prompt is not None:
        prompt = loaded.prompt
    else:
        try:
            result = await asyncio.to_thread(editor_to_api, loaded.workflow, object_info)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None  # the converter does not know the file
        prompt = result.prompt
        warnings.extend(result.warnings)
    if overrides:
        prompt = apply_overrides(prompt, overrides, object_info)
    return ResolvedPrompt(prompt, loaded.workflow, object_info, warnings, loaded.format)
