"""Every place a workflow can come from, as one list of ``WorkflowEntry``; loading and saving them.

Sources: the bundled ``workflows/`` folder and the user's folders (``core.library``), the server's
saved workflows (``/userdata``, ``source="server"``), and the newest images of the server's output
folder that embed a prompt or workflow (``source="output"``). Server files are copied into the
cache so every entry has a local ``path`` (``comfytui run`` and the dashboard then treat them
alike); ``remote`` keeps their name on the server.

Each entry is inspected (format, node count, model files, node types) in a worker thread: nothing
here parses a file on the event loop.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfytui.core import paths
from comfytui.core.comfy.client import ComfyClient
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError, InputError, ServerUnreachable
from comfytui.core.workflows.convert import (
    VIRTUAL_TYPES,
    default_value,
    editor_to_api,
    iter_input_specs,
    widget_layout,
)
from comfytui.core.workflows.library import WorkflowEntry, list_workflows, saved_workflows_dir
from comfytui.core.workflows.load import LoadedWorkflow, load_workflow_file
from comfytui.core.workflows.preflight import looks_like_model, model_refs
from comfytui.core.workflows.userdata import (
    fetch_output_file,
    list_output_files,
    list_saved_workflows,
    read_saved_workflow,
    write_saved_workflow,
)

IMAGE_SUFFIXES = (".png", ".webp")
DEFAULT_IMAGE_LIMIT = 12
"""How many of the newest output images are fetched and inspected for embedded workflows."""
_FETCH_CONCURRENCY = 4


@dataclass(frozen=True)
class WorkflowInfo:
    """What a workflow is and needs, read from its file."""

    format: str
    nodes: int
    models: tuple[str, ...] = ()
    node_types: tuple[str, ...] = ()


def _editor_nodes(workflow: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    yield from (n for n in workflow.get("nodes") or [] if isinstance(n, dict))
    for sub in (workflow.get("definitions") or {}).get("subgraphs") or []:
        if isinstance(sub, dict):
            yield from (n for n in sub.get("nodes") or [] if isinstance(n, dict))


def info_of(loaded: LoadedWorkflow) -> WorkflowInfo:
    if loaded.format == "editor" and loaded.workflow is not None:
        workflow = loaded.workflow
        subgraph_ids = {
            str(s.get("id")) for s in (workflow.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)
        }
        types: list[str] = []
        models: list[str] = []
        for node in _editor_nodes(workflow):
            ntype = str(node.get("type", ""))
            if ntype and ntype not in VIRTUAL_TYPES and ntype not in subgraph_ids:
                types.append(ntype)
            values = node.get("widgets_values")
            values = values.values() if isinstance(values, dict) else values if isinstance(values, list) else []
            models += [v for v in values if looks_like_model(v)]
        count = sum(1 for n in workflow.get("nodes") or [] if isinstance(n, dict))
        return WorkflowInfo("editor", count, tuple(dict.fromkeys(models)), tuple(sorted(set(types))))
    prompt = loaded.prompt or {}
    types = sorted({str(n.get("class_type")) for n in prompt.values() if isinstance(n, dict)})
    models = list(dict.fromkeys(ref.value for ref in model_refs(prompt)))
    return WorkflowInfo("api", len(prompt), tuple(models), tuple(types))


def inspect_path(path: str | Path) -> WorkflowInfo:
    """Parse one file (blocking: call it through ``asyncio.to_thread``)."""
    return info_of(load_workflow_file(path))


def with_info(entry: WorkflowEntry) -> WorkflowEntry:
    """The entry with format, node count and needs filled in; ``error`` says why when unreadable."""
    try:
        info = inspect_path(entry.path)
    except ComfyTuiError as exc:
        return dataclasses.replace(entry, format="", error=str(exc).splitlines()[0])
    return dataclasses.replace(
        entry, format=info.format, nodes=info.nodes, models=info.models, node_types=info.node_types, error=""
    )


async def inspect_entries(entries: list[WorkflowEntry]) -> list[WorkflowEntry]:
    """``with_info`` for each entry, in one worker thread."""
    return await asyncio.to_thread(lambda: [with_info(e) for e in entries])


# --------------------------------------------------------------------------------------------
# server sources


def server_cache_dir(client: ComfyClient) -> Path:
    return paths.cache_dir() / "server_workflows" / hashlib.sha256(client.url.encode()).hexdigest()[:16]


def _cache_file(client: ComfyClient, kind: str, remote: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in remote)[-80:]
    digest = hashlib.sha256(remote.encode()).hexdigest()[:8]
    return server_cache_dir(client) / kind / f"{digest}-{safe}"


def _write(path: Path, data: bytes) -> None:
    paths.ensure(path.parent)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def server_entries(client: ComfyClient) -> list[WorkflowEntry]:
    """The server's saved workflows (``workflows/`` of its user data), copied to the cache and inspected."""
    files = await list_saved_workflows(client)
    limit = asyncio.Semaphore(_FETCH_CONCURRENCY)

    async def one(f: Any) -> WorkflowEntry | None:
        async with limit:
            try:
                data = await read_saved_workflow(client, f.path)
            except ComfyTuiError:
                return None
        local = _cache_file(client, "userdata", f.path)
        await asyncio.to_thread(_write, local, data)
        entry = WorkflowEntry(f.path, local, "server", f.size or len(data), f.modified or 0.0, remote=f.path)
        return await asyncio.to_thread(with_info, entry)

    found = await asyncio.gather(*(one(f) for f in files))
    return [e for e in found if e is not None]


async def output_entries(client: ComfyClient, limit: int = DEFAULT_IMAGE_LIMIT) -> list[WorkflowEntry]:
    """The newest images of the server's output folder that embed a prompt or workflow."""
    names = [n for n in await list_output_files(client) if n.lower().endswith(IMAGE_SUFFIXES)][:limit]
    sem = asyncio.Semaphore(_FETCH_CONCURRENCY)

    async def one(name: str) -> WorkflowEntry | None:
        local = _cache_file(client, "output", name)
        if not await asyncio.to_thread(local.is_file):
            async with sem:
                try:
                    data = await fetch_output_file(client, name)
                except ComfyTuiError:
                    return None
            await asyncio.to_thread(_write, local, data)
        stat = await asyncio.to_thread(local.stat)
        entry = await asyncio.to_thread(
            with_info, WorkflowEntry(name, local, "output", stat.st_size, stat.st_mtime, remote=name)
        )
        return None if entry.error else entry

    found = await asyncio.gather(*(one(n) for n in names))
    return [e for e in found if e is not None]


async def list_sources(
    config: Config,
    client: ComfyClient | None = None,
    *,
    server: bool = True,
    images: int = DEFAULT_IMAGE_LIMIT,
) -> tuple[list[WorkflowEntry], list[str]]:
    """Every workflow: bundled, user, server-saved, output images; each inspected.

    Returns the entries and notes about sources that could not be read (a server that is down
    leaves only the local entries).
    """
    local = await asyncio.to_thread(list_workflows, config)
    entries = await inspect_entries(local)
    notes: list[str] = []
    if client is not None and server:
        try:
            entries += await server_entries(client)
        except ServerUnreachable as exc:
            notes.append(f"server workflows: {exc}")
            return entries, notes
        except ComfyTuiError as exc:
            notes.append(f"server workflows: {exc}")
        if images > 0:
            try:
                entries += await output_entries(client, images)
            except ComfyTuiError as exc:
                notes.append(f"output images: {exc}")
    return entries, notes


async def materialize(entry: WorkflowEntry, client: ComfyClient | None) -> Path:
    """A local file for the entry (server copies are fetched again when the cache was cleared)."""
    path = Path(entry.path)
    if not entry.remote or client is None or await asyncio.to_thread(path.is_file):
        return path
    if entry.source == "server":
        data = await read_saved_workflow(client, entry.remote)
    else:
        data = await fetch_output_file(client, entry.remote)
    await asyncio.to_thread(_write, path, data)
    return path


async def load_entry(entry: WorkflowEntry, client: ComfyClient | None = None) -> LoadedWorkflow:
    path = await materialize(entry, client)
    return await asyncio.to_thread(load_workflow_file, path)


# --------------------------------------------------------------------------------------------
# saving an edited workflow


def _find_editor_node(workflow: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    """The editor node of a prompt id: ``"5"``, or a path through subgraph instances ``"5:3"``."""
    graph: dict[str, Any] = workflow
    subgraphs = {
        str(s.get("id")): s for s in (workflow.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)
    }
    parts = node_id.split(":")
    for depth, part in enumerate(parts):
        node = next((n for n in graph.get("nodes") or [] if isinstance(n, dict) and str(n.get("id")) == part), None)
        if node is None or depth == len(parts) - 1:
            return node
        inner = subgraphs.get(str(node.get("type")))
        if inner is None:
            return None  # a legacy group node: its inner ids are indexes, not editable here
        graph = inner
    return None


_VALUE_TAG = "\x00comfytui-value:"
"""Marks a saved widget value while asking the converter where each queued value is read from."""


def _value_holders(workflow: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every node whose ``widgets_values`` the converter may read: the root graph's and the subgraph
    definitions' (legacy group nodes' inner values live in ``extra`` and are not editable here)."""
    yield from (n for n in workflow.get("nodes") or [] if isinstance(n, dict))
    for sg in (workflow.get("definitions") or {}).get("subgraphs") or []:
        if isinstance(sg, dict):
            yield from (n for n in sg.get("nodes") or [] if isinstance(n, dict))


def _value_sources(
    workflow: dict[str, Any], object_info: Mapping[str, Any]
) -> dict[str, dict[str, tuple[list[Any], int]]]:
    """``{prompt node id: {input: (widgets_values list, index)}}``: the saved value each literal of
    the converted prompt is read from, in ``workflow`` itself.

    The converter is run on a copy whose every widget value is replaced by a unique tag, so the
    answer follows exactly the converter's rules (promotion chains through nested subgraphs, proxy
    widgets, root-only PrimitiveNodes, reroutes, bypasses) instead of a second copy of them.
    """
    tagged = copy.deepcopy(workflow)
    places: dict[str, tuple[list[Any], int]] = {}
    for node, twin in zip(_value_holders(workflow), _value_holders(tagged), strict=True):
        values, twin_values = node.get("widgets_values"), twin.get("widgets_values")
        if isinstance(values, list) and isinstance(twin_values, list):
            for index in range(len(values)):
                tag = f"{_VALUE_TAG}{len(places)}"
                places[tag] = (values, index)
                twin_values[index] = tag
    try:
        prompt = editor_to_api(tagged, dict(object_info)).prompt
    except InputError:
        return {}  # a broken graph: every edit goes to the node's own widget
    return {
        node_id: {
            name: places[value]
            for name, value in entry["inputs"].items()
            if isinstance(value, str) and value in places
        }
        for node_id, entry in prompt.items()
    }


def _filler(slot: Any, specs: Mapping[str, list[Any]]) -> Any:
    if slot.role == "control":
        return "fixed"
    if slot.role == "value" and slot.name in specs:
        value = default_value(specs[slot.name])
        return value if isinstance(value, (str, int, float, bool, list)) else None
    return "" if slot.role == "frontend" else None


def editor_with_values(
    workflow: dict[str, Any], edits: Mapping[str, Mapping[str, Any]], object_info: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """A copy of an editor workflow with ``{prompt node id: {input: value}}`` written into ``widgets_values``.

    Each value is written where the converter reads it from (the node itself, a root PrimitiveNode,
    the subgraph instance that promotes it, however deeply nested), so the edited workflow queues it.
    A value held by a subgraph's inner node is shared by every instance of that subgraph. Returns
    the workflow and a note for each edit that could not be placed.
    """
    out = copy.deepcopy(workflow)
    sources = _value_sources(out, object_info)
    notes: list[str] = []
    for node_id, changes in edits.items():
        node = _find_editor_node(out, node_id)
        for name, value in changes.items():
            source = sources.get(node_id, {}).get(name)
            if source is not None:
                held_in, index = source
                held_in[index] = value
            elif node is None:
                notes.append(f"node {node_id}: not found in the editor graph; '{name}' was not saved")
            else:
                note = _write_own_widget(node, node_id, name, value, object_info)
                if note:
                    notes.append(note)
    return out, notes


def _write_own_widget(
    node: dict[str, Any], node_id: str, name: str, value: Any, object_info: Mapping[str, Any]
) -> str | None:
    """Write a value the converter did not read from any saved position (a short or missing
    ``widgets_values`` queues the default) into the node's own widget; a note when it cannot."""
    ntype = str(node.get("type", ""))
    node_def = object_info.get(ntype)
    values = node.get("widgets_values")
    if isinstance(values, dict):
        values[name] = value
        return None
    if not isinstance(node_def, dict):
        return f"node {node_id} ({ntype}): unknown to the server; '{name}' was not saved"
    if not isinstance(values, list):
        values = []
    layout = widget_layout(dict(node_def), ntype)
    legacy = widget_layout(dict(node_def), ntype, legacy_force_input=True)
    if len(legacy) != len(layout) and len(values) == len(legacy):
        layout = legacy
    index = next((i for i, s in enumerate(layout) if s.name == name and s.role == "value"), None)
    if index is None:
        return f"node {node_id} ({ntype}): '{name}' is not a widget; it was not saved"
    specs = {n: s for n, s, _ in iter_input_specs(dict(node_def))}
    while len(values) <= index:  # a short widgets_values: pad with the frontend's defaults
        values.append(_filler(layout[len(values)], specs))
    values[index] = value
    node["widgets_values"] = values  # the same list when there was one: other edits may hold it
    return None


def _api_json(prompt: Mapping[str, Any]) -> bytes:
    return (json.dumps(prompt, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def saved_content(
    loaded: LoadedWorkflow,
    prompt: Mapping[str, Any],
    edits: Mapping[str, Mapping[str, Any]],
    object_info: Mapping[str, Any],
) -> tuple[bytes, list[str]]:
    """The bytes of the edited workflow, in the format it came in (API prompt or editor graph)."""
    if loaded.format == "editor" and loaded.workflow is not None:
        workflow, notes = editor_with_values(loaded.workflow, edits, object_info)
        return (json.dumps(workflow, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), notes
    return _api_json(prompt), []


def normalise_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InputError("give the new workflow a file name")
    if not name.lower().endswith(".json"):
        name += ".json"
    return name


def local_target(entry: WorkflowEntry, name: str, config: Config) -> Path:
    """Where a local save goes: next to a user file; else the first user folder, or the data dir."""
    name = normalise_name(name)
    if Path(name).is_absolute():
        return Path(name)
    if entry.source == "user":
        return Path(entry.path).parent / name
    if config.workflows.dirs:
        return Path(os.path.expanduser(config.workflows.dirs[0])) / name
    return saved_workflows_dir() / name


async def save_workflow(
    entry: WorkflowEntry,
    loaded: LoadedWorkflow,
    prompt: Mapping[str, Any],
    edits: Mapping[str, Mapping[str, Any]],
    object_info: Mapping[str, Any],
    name: str,
    *,
    config: Config,
    client: ComfyClient | None = None,
) -> tuple[str, list[str]]:
    """Save the edited workflow as a new file, never over an existing one. Returns (where, notes).

    Server workflows are saved back to the server's ``workflows/`` folder; others locally.
    """
    data, notes = saved_content(loaded, prompt, edits, object_info)
    if entry.source == "server" and client is not None:
        stored = await write_saved_workflow(client, normalise_name(name), data, overwrite=False)
        return f"server: workflows/{stored}", notes
    target = local_target(entry, name, config)

    def write() -> None:
        paths.ensure(target.parent)
        try:
            with open(target, "xb") as fh:
                fh.write(data)
        except FileExistsError:
            raise InputError(f"{target} already exists; choose another name") from None
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None

    await asyncio.to_thread(write)
    return str(target), notes
