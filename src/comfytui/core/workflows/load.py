"""Load a workflow from a file: API-format JSON, editor-format JSON, or an image ComfyUI saved."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from comfytui.core.errors import InputError
from comfytui.core.workflows.pnginfo import read_image_metadata, sniff_image
from comfytui.core.workflows.strict_json import strict_json_loads

WorkflowFormat = Literal["api", "editor"]
WorkflowSource = Literal["file", "png", "webp", "jpeg"]

_EXPECTED = (
    'an API-format prompt ({"<id>": {"class_type": ..., "inputs": {...}}}) '
    'or an editor-format workflow (an object with "nodes" and "links")'
)


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow read from disk.

    ``prompt`` is set for API files and for images that embed the prompt ComfyUI ran; ``workflow``
    is set for editor files and images that embed the editor graph. ``format`` says which one the
    file is primarily: ``"editor"`` whenever an editor graph is present.
    """

    path: str
    format: WorkflowFormat
    prompt: dict[str, Any] | None
    workflow: dict[str, Any] | None
    source: WorkflowSource

    @property
    def name(self) -> str:
        return Path(self.path).stem


def is_api_prompt(data: object) -> bool:
    """True for ``{id: {"class_type": str, "inputs"?: dict}}`` with at least one node."""
    if not isinstance(data, dict) or not data:
        return False
    for node in data.values():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            return False
        if not isinstance(node.get("inputs", {}), dict):
            return False
    return True


def is_editor_workflow(data: object) -> bool:
    """True for a litegraph serialisation: ``nodes`` is a list and ``links`` a list (or absent)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("nodes"), list)
        and isinstance(data.get("links", []), list)
        and ("links" in data or "version" in data or "last_node_id" in data)
    )


def classify(data: object, path: str) -> tuple[WorkflowFormat, dict[str, Any] | None, dict[str, Any] | None]:
    """Tell an API prompt from an editor workflow; raise ``InputError`` for anything else."""
    if is_editor_workflow(data):
        assert isinstance(data, dict)
        return "editor", None, data
    if is_api_prompt(data):
        assert isinstance(data, dict)
        return "api", data, None
    # {"prompt": {...}} as written by some tools and by /history entries' prompt field
    if isinstance(data, dict) and is_api_prompt(data.get("prompt")):
        return "api", data["prompt"], None
    raise InputError(f"{path}: not a ComfyUI workflow: expected {_EXPECTED}; found {_describe(data)}")


def _describe(data: object) -> str:
    if isinstance(data, dict):
        keys = list(data)[:6]
        if not keys:
            return "an empty object"
        more = ", ..." if len(data) > 6 else ""
        return "an object with keys " + ", ".join(repr(k) for k in keys) + more
    if isinstance(data, list):
        return f"a list of {len(data)} items"
    return f"a {type(data).__name__}"


def _is_slot(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def validate_editor_workflow(data: dict[str, Any], path: str) -> None:
    """Refuse what the converter would otherwise guess about: a link whose slot is not an
    integer, a node whose ``widgets_values`` is neither a list nor an object. Checks the root
    graph and every subgraph definition; the error names the file, the graph, the link or node."""
    graphs: list[tuple[str, dict[str, Any]]] = [("", data)]
    subgraphs = (data.get("definitions") or {}).get("subgraphs") if isinstance(data.get("definitions"), dict) else None
    for sg in subgraphs if isinstance(subgraphs, list) else []:
        if isinstance(sg, dict):
            graphs.append((f"subgraph {sg.get('name') or sg.get('id')!s}: ", sg))
    for where, graph in graphs:
        links = graph.get("links") or []
        if isinstance(links, dict):
            links = list(links.values())
        if not isinstance(links, list):
            raise InputError(f"{path}: {where}'links' is a {type(links).__name__}, expected a list")
        for index, link in enumerate(links):
            if isinstance(link, list) and len(link) >= 5:
                lid, slots = link[0], {"origin_slot": link[2], "target_slot": link[4]}
            elif isinstance(link, dict):
                lid, slots = link.get("id", f"#{index}"), {k: link.get(k) for k in ("origin_slot", "target_slot")}
            else:
                continue
            for field_name, value in slots.items():
                if not _is_slot(value):
                    raise InputError(
                        f"{path}: {where}link {lid}: {field_name} is {json.dumps(value)[:40]}, expected an integer"
                    )
        for node in graph.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            values = node.get("widgets_values")
            if values is not None and not isinstance(values, (list, dict)):
                raise InputError(
                    f"{path}: {where}node {node.get('id')} ({node.get('type')}): 'widgets_values' is a "
                    f"{type(values).__name__} ({json.dumps(values)[:40]}), expected a list"
                )


def parse_workflow_json(text: str, path: str = "<string>") -> LoadedWorkflow:
    """Parse JSON text; a syntax error raises ``SourcePositionError`` with its line and column."""
    data = strict_json_loads(text, path)
    fmt, prompt, workflow = classify(data, path)
    if workflow is not None:
        validate_editor_workflow(workflow, path)
    return LoadedWorkflow(path=path, format=fmt, prompt=prompt, workflow=workflow, source="file")


def load_workflow_file(path: str | Path) -> LoadedWorkflow:
    """Read a workflow from a JSON file or from a PNG/WebP/JPEG image ComfyUI saved.

    Raises ``SourcePositionError`` for JSON syntax errors and ``InputError`` for unreadable files,
    files of another shape, and images that embed no workflow.
    """
    spath = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InputError(f"{spath}: cannot read the file ({exc.strerror or exc})") from exc
    container = sniff_image(head)
    if container is not None:
        meta = read_image_metadata(path)
        if not meta.has_workflow:
            raise InputError(
                f"{spath}: the {container.upper()} image holds no ComfyUI workflow: it has neither a "
                "'prompt' nor a 'workflow' metadata entry (saved with --disable-metadata, or not "
                "made by ComfyUI)"
            )
        if meta.workflow is not None and is_editor_workflow(meta.workflow):
            fmt: WorkflowFormat = "editor"
        elif meta.prompt is not None and is_api_prompt(meta.prompt):
            fmt = "api"
        else:
            raise InputError(
                f"{spath}: the image's embedded metadata is not a ComfyUI workflow: expected {_EXPECTED}"
            )
        prompt = meta.prompt if meta.prompt is not None and is_api_prompt(meta.prompt) else None
        workflow = meta.workflow if fmt == "editor" else None
        if workflow is not None:
            validate_editor_workflow(workflow, spath)
        return LoadedWorkflow(path=spath, format=fmt, prompt=prompt, workflow=workflow, source=container)  # type: ignore[arg-type]
    if Path(spath).suffix.lower() in (".png", ".webp", ".jpg", ".jpeg"):
        raise InputError(f"{spath}: not a PNG, WebP or JPEG image (its first bytes are {head[:8]!r})")
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{spath}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spath}: not a UTF-8 text file nor a PNG/WebP image") from exc
    return parse_workflow_json(text, spath)
