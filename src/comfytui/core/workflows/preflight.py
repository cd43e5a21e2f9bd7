"""Preflight checks: what the form and ``comfytui run`` check before anything is sent.

``preflight(prompt, object_info, models_by_folder)`` lists, per node (with its title), what the
server would refuse and we can already see: unknown node types, model files that are not installed
(loader inputs whose value is not among the server's files), required inputs that are missing,
links between incompatible types, plus literal values out of range or not among the choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from comfytui.core.errors import ComfyTuiError, InputError, NodeInputError
from comfytui.core.workflows.convert import combo_choices, iter_input_specs, spec_kind
from comfytui.core.workflows.params import is_link, node_title, validate_params

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".pt2", ".onnx")

LOADER_INPUT_FOLDERS: dict[str, str] = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "vae_name": "vae",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
    "control_net_name": "controlnet",
    "upscale_model_name": "upscale_models",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks",
    "audio_encoder_name": "audio_encoders",
}
"""Loader inputs whose combo lists a model folder of the server (``/models/<folder>``)."""

CLASS_INPUT_FOLDERS: dict[tuple[str, str], str] = {
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
    ("ImageOnlyCheckpointLoader", "ckpt_name"): "checkpoints",
    ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
    ("DiffControlNetLoader", "control_net_name"): "controlnet",
}


def _specs(object_info: Mapping[str, Any] | None, class_type: str) -> dict[str, tuple[list[Any], str]]:
    node_def = (object_info or {}).get(class_type)
    if not isinstance(node_def, dict):
        return {}
    return {name: (spec, section) for name, spec, section in iter_input_specs(node_def)}


def looks_like_model(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_EXTENSIONS)


@dataclass(frozen=True)
class ModelRef:
    """A loader input of the prompt: which model file a node needs, and from which folder."""

    node_id: str
    title: str
    class_type: str
    input_name: str
    value: str
    folder: str | None


def model_folder(class_type: str, input_name: str) -> str | None:
    return CLASS_INPUT_FOLDERS.get((class_type, input_name)) or LOADER_INPUT_FOLDERS.get(input_name)


def model_refs(prompt: Mapping[str, Any], object_info: Mapping[str, Any] | None = None) -> list[ModelRef]:
    """Every literal loader input: a known loader input name, or a string value naming a model file."""
    refs: list[ModelRef] = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type", ""))
        specs = _specs(object_info, class_type)
        for name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str):
                continue
            folder = model_folder(class_type, name)
            spec = specs.get(name, (None, ""))[0]
            if spec is not None and spec_kind(spec) != "COMBO":
                continue  # a STRING input (a file name prefix, a prompt) is not a loader input
            if folder is None and not looks_like_model(value):
                continue
            refs.append(ModelRef(str(node_id), node_title(node), class_type, name, value, folder))
    return refs


def _describe_choices(choices: list[Any]) -> str:
    if not choices:
        return "none are installed"
    shown = ", ".join(str(c) for c in choices[:8]) + (", ..." if len(choices) > 8 else "")
    return f"{len(choices)} installed: {shown}"


def _model_errors(
    prompt: Mapping[str, Any], object_info: Mapping[str, Any], models_by_folder: Mapping[str, list[str]] | None
) -> list[NodeInputError]:
    errors: list[NodeInputError] = []
    for ref in model_refs(prompt, object_info):
        specs = _specs(object_info, ref.class_type)
        if ref.class_type not in object_info:
            continue  # reported as an unknown node type
        spec = specs.get(ref.input_name, (None, ""))[0]
        installed: list[Any] | None = None
        if models_by_folder is not None and ref.folder and ref.folder in models_by_folder:
            installed = list(models_by_folder[ref.folder])
            if spec is not None:  # the server may list a file in another root of the same kind
                installed += [c for c in combo_choices(spec) if c not in installed]
        elif spec is not None:
            installed = combo_choices(spec)
        if installed is None or ref.value in installed:
            continue
        where = f" ({ref.folder})" if ref.folder else ""
        errors.append(
            NodeInputError(
                node_id=ref.node_id,
                class_type=ref.class_type,
                kind="missing_model",
                message=f"model '{ref.value}' is not installed on the server{where}",
                input_name=ref.input_name,
                details=_describe_choices(installed),
                title=ref.title,
            )
        )
    return errors


def types_compatible(received: Any, expected: Any) -> bool:
    """ComfyUI's ``validate_node_input``: equal, ``*``, or overlapping comma-separated unions."""
    if isinstance(received, (list, tuple)):
        received = "COMBO"
    if isinstance(expected, (list, tuple)):
        expected = "COMBO"
    received, expected = str(received), str(expected)
    if received == expected or "*" in (received, expected):
        return True
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want) or "*" in got or "*" in want


def used_nodes(prompt: Mapping[str, Any], object_info: Mapping[str, Any]) -> set[str]:
    """Output nodes (``output_node`` in ``/object_info``) and every node they depend on; the server
    validates and runs only these. Without any known output node, every node counts."""
    outputs = [
        nid
        for nid, node in prompt.items()
        if isinstance(node, dict) and (object_info.get(str(node.get("class_type"))) or {}).get("output_node")
    ]
    if not outputs:
        return set(prompt)
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        nid = stack.pop()
        if nid in seen or not isinstance(prompt.get(nid), dict):
            continue
        seen.add(nid)
        stack += [v[0] for v in (prompt[nid].get("inputs") or {}).values() if is_link(v)]
    return seen


def _graph_errors(
    nodes: Mapping[str, Any], object_info: Mapping[str, Any], prompt: Mapping[str, Any]
) -> list[NodeInputError]:
    errors: list[NodeInputError] = []
    for node_id, node in nodes.items():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type", ""))
        if class_type not in object_info:
            continue
        title = node_title(node)
        inputs = node.get("inputs") or {}
        specs = _specs(object_info, class_type)

        def err(kind: str, message: str, name: str, nid: str = str(node_id), ct: str = class_type, t: str = title) -> None:
            errors.append(NodeInputError(nid, ct, kind, message, name, "", t))

        for name, (_spec, section) in specs.items():
            if section == "required" and name not in inputs:
                err("required_input_missing", "Required input is missing", name)
        for name, value in inputs.items():
            if not is_link(value):
                continue
            source_id, slot = value
            source = prompt.get(source_id)
            if not isinstance(source, dict):
                err("missing_link_target", f"linked to node {source_id}, which is not in the workflow", name)
                continue
            source_type = str(source.get("class_type", ""))
            source_def = object_info.get(source_type)
            if not isinstance(source_def, dict) or name not in specs:
                continue
            outputs = source_def.get("output") or []
            if slot < 0 or slot >= len(outputs):
                err(
                    "bad_linked_output",
                    f"linked to output {slot} of node {source_id} ({node_title(source)}), "
                    f"which has only {len(outputs)} outputs",
                    name,
                )
                continue
            received, expected = outputs[slot], specs[name][0][0]
            if not types_compatible(received, expected):
                shown = "COMBO" if isinstance(expected, (list, tuple)) else expected
                got = "COMBO" if isinstance(received, (list, tuple)) else received
                err(
                    "return_type_mismatch",
                    f"link of type {got} from node {source_id} ({node_title(source)}) "
                    f"cannot feed an input of type {shown}",
                    name,
                )
    return errors


def preflight(
    prompt: Mapping[str, Any],
    object_info: Mapping[str, Any] | None,
    models_by_folder: Mapping[str, list[str]] | None = None,
) -> list[NodeInputError]:
    """Everything we can tell the server would refuse, per node and input (empty: looks fine).

    Without ``object_info`` nothing can be checked. ``models_by_folder`` (``/models/<folder>``
    lists) makes the model check use the server's current files rather than cached combo lists.
    """
    if not object_info:
        return []
    errors = list(unknown_node_types(dict(prompt), dict(object_info)))
    # like the server, check the inputs only of nodes that feed an output node
    used = used_nodes(prompt, object_info)
    checked = {nid: node for nid, node in prompt.items() if nid in used}
    errors += _model_errors(checked, object_info, models_by_folder)
    errors += _graph_errors(checked, object_info, prompt)
    # loader inputs are judged by the model check (the server's files), not the cached combo list
    seen = {(r.node_id, r.input_name) for r in model_refs(checked, object_info) if r.class_type in object_info}
    errors += [
        e for e in validate_params(dict(checked), dict(object_info)) if (e.node_id, e.input_name) not in seen
    ]
    order = {nid: i for i, nid in enumerate(prompt)}
    return sorted(errors, key=lambda e: order.get(e.node_id, len(order)))


def describe_problems(problems: list[NodeInputError], source: str = "") -> str:
    where = f"{source}: " if source else ""
    lines = [f"{where}the workflow cannot run on this server:"]
    lines += [f"  - {p.describe()}" for p in problems]
    return "\n".join(lines)


async def fetch_models_by_folder(client: Any, folders: set[str] | list[str]) -> dict[str, list[str]]:
    """``/models/<folder>`` for each folder the server knows; unknown folders are skipped."""
    wanted = sorted({f for f in folders if f})
    if not wanted:
        return {}
    try:
        known = set(await client.models())
    except ComfyTuiError:
        return {}
    found: dict[str, list[str]] = {}
    for folder in wanted:
        if folder not in known:
            continue
        try:
            files = await client.models(folder)
        except ComfyTuiError:
            continue
        found[folder] = [f if isinstance(f, str) else str(f.get("name", "")) for f in files]
    return found


def unknown_node_types(prompt: dict[str, Any], object_info: dict[str, Any]) -> list[NodeInputError]:
    errors = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        if not class_type:
            errors.append(NodeInputError(str(node_id), "", "missing_class_type", "the node has no class_type"))
        elif class_type not in object_info:
            title = (node.get("_meta") or {}).get("title")
            errors.append(
                NodeInputError(
                    str(node_id),
                    class_type,
                    "missing_node_type",
                    f"unknown node type '{class_type}': this server has no such node (is its custom node pack installed?)",
                    title=title if title != class_type else None,
                )
            )
    return errors


def preflight_prompt(prompt: dict[str, Any], object_info: dict[str, Any] | None, *, source: str = "") -> None:
    """Refuse, before anything is sent, a prompt the server would reject for reasons we can see."""
    if not object_info:
        return
    problems = preflight(prompt, object_info)
    if problems:
        raise InputError(describe_problems(problems, source))
