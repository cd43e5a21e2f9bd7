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
    PRIMITIVE_WIDGET_TYPES,
    VIRTUAL_TYPES,
    default_value,
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


def _links(workflow: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """link id → (origin node id, origin slot), for both link encodings."""
    out: dict[str, tuple[str, int]] = {}
    for link in workflow.get("links") or []:
        if isinstance(link, list) and len(link) >= 5:
            out[str(link[0])] = (str(link[1]), int(link[2]))
        elif isinstance(link, dict) and "id" in link:
            out[str(link["id"])] = (str(link.get("origin_id")), int(link.get("origin_slot") or 0))
    return out


def _primitive_source(graph: Mapping[str, Any], node: Mapping[str, Any], input_name: str) -> dict[str, Any] | None:
    """The PrimitiveNode whose value feeds ``input_name`` (through Reroutes), if any."""
    nodes = {str(n.get("id")): n for n in graph.get("nodes") or [] if isinstance(n, dict)}
    links = _links(graph)
    slot = _input_slot(node, input_name)
    link_id = slot.get("link") if slot else None
    for _ in range(64):
        if link_id is None or str(link_id) not in links:
            return None
        origin = nodes.get(links[str(link_id)][0])
        if origin is None:
            return None
        if origin.get("type") == "PrimitiveNode":
            return origin
        if origin.get("type") != "Reroute":
            return None
        first = next((s for s in origin.get("inputs") or [] if isinstance(s, dict)), None)
        link_id = first.get("link") if first else None
    return None


def _find_editor_node(
    workflow: dict[str, Any], node_id: str
) -> tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], dict[str, Any]] | None] | None:
    """``(graph, node, (instance, definition) | None)`` for a prompt id: ``"5"`` or a subgraph path ``"5:3"``."""
    graph: dict[str, Any] = workflow
    parent: tuple[dict[str, Any], dict[str, Any]] | None = None
    subgraphs = {
        str(s.get("id")): s for s in (workflow.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)
    }
    parts = node_id.split(":")
    for depth, part in enumerate(parts):
        node = next((n for n in graph.get("nodes") or [] if isinstance(n, dict) and str(n.get("id")) == part), None)
        if node is None:
            return None
        if depth == len(parts) - 1:
            return graph, node, parent
        inner = subgraphs.get(str(node.get("type")))
        if inner is None:
            return None  # a legacy group node: its inner ids are indexes, not editable here
        parent = (node, inner)
        graph = inner
    return None


def _input_slot(node: Mapping[str, Any], input_name: str) -> dict[str, Any] | None:
    return next(
        (
            s
            for s in node.get("inputs") or []
            if isinstance(s, dict) and ((s.get("widget") or {}).get("name") or s.get("name")) == input_name
        ),
        None,
    )


def _promoted_index(
    parent: tuple[dict[str, Any], dict[str, Any]], node: Mapping[str, Any], input_name: str
) -> int | None:
    """Where the subgraph instance keeps the value of an inner widget it promotes, if it does."""
    instance, definition = parent
    proxies = (instance.get("properties") or {}).get("proxyWidgets")
    if not (isinstance(proxies, list) and proxies and all(isinstance(p, list) and len(p) == 2 for p in proxies)):
        proxies = None
    if proxies:
        for index, (owner, wname) in enumerate(proxies):
            if str(owner) == str(node.get("id")) and wname == input_name:
                return index
    slot = _input_slot(node, input_name)
    link = _links(definition).get(str(slot.get("link"))) if slot and slot.get("link") is not None else None
    if link is None or link[0] != "-10":
        return None
    sg_inputs = [i for i in definition.get("inputs") or [] if isinstance(i, dict)]
    if link[1] >= len(sg_inputs):
        return None
    name = sg_inputs[link[1]].get("name")
    outer = next((s for s in instance.get("inputs") or [] if isinstance(s, dict) and s.get("name") == name), None)
    if outer is not None and outer.get("link") is not None:
        return None  # fed from outside the subgraph
    if proxies:
        return next((i for i, (owner, wname) in enumerate(proxies) if str(owner) == "-1" and wname == name), None)
    widget_inputs = [str(i.get("name")) for i in sg_inputs if i.get("type") in PRIMITIVE_WIDGET_TYPES]
    return widget_inputs.index(str(name)) if name in widget_inputs else None


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

    A value fed by a PrimitiveNode is written into that PrimitiveNode. Returns the workflow and a
    note for each edit that could not be placed.
    """
    out = copy.deepcopy(workflow)
    notes: list[str] = []
    for node_id, changes in edits.items():
        found = _find_editor_node(out, node_id)
        if found is None:
            notes.append(f"node {node_id}: not found in the editor graph; its changes were not saved")
            continue
        graph, node, parent = found
        ntype = str(node.get("type", ""))
        node_def = object_info.get(ntype)
        for name, value in changes.items():
            promoted = _promoted_index(parent, node, name) if parent is not None else None
            if promoted is not None and parent is not None:
                instance_values = parent[0].get("widgets_values")
                if isinstance(instance_values, list):
                    while len(instance_values) <= promoted:
                        instance_values.append(None)
                    instance_values[promoted] = value
                    continue
            primitive = _primitive_source(graph, node, name)
            if primitive is not None:
                values = primitive.setdefault("widgets_values", [])
                if isinstance(values, list) and values:
                    values[0] = value
                else:
                    primitive["widgets_values"] = [value]
                continue
            values = node.get("widgets_values")
            if isinstance(values, dict):
                values[name] = value
                continue
            if not isinstance(node_def, dict):
                notes.append(f"node {node_id} ({ntype}): unknown to the server; '{name}' was not saved")
                continue
            values = list(values) if isinstance(values, list) else []
            layout = widget_layout(dict(node_def), ntype)
            legacy = widget_layout(dict(node_def), ntype, legacy_force_input=True)
            if len(legacy) != len(layout) and len(values) == len(legacy):
                layout = legacy
            index = next((i for i, s in enumerate(layout) if s.name == name and s.role == "value"), None)
            if index is None:
                notes.append(f"node {node_id} ({ntype}): '{name}' is not a widget; it was not saved")
                continue
            specs = {n: s for n, s, _ in iter_input_specs(dict(node_def))}
            while len(values) <= index:  # a short widgets_values: pad with the frontend's defaults
                values.append(_filler(layout[len(values)], specs))
            values[index] = value
            node["widgets_values"] = values
    return out, notes


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
