"""Editor-format workflow → API-format prompt, offline, the way the official frontend 1.32.9 does it.

The rules are those of COMFY_API §4 (especially §4.7 and §4.9): widgets_values are mapped
positionally onto ``/object_info`` inputs (with the frontend's extra control/upload slots), links
override widgets, Reroutes are followed, PrimitiveNodes copy their value, bypassed origins are
rerouted, muted nodes disappear, subgraphs and legacy group nodes are expanded with path ids.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from comfytui.core.errors import InputError

MODE_NEVER = 2
MODE_BYPASS = 4
SEED_NAMES = frozenset({"seed", "noise_seed"})
VIRTUAL_TYPES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
SUBGRAPH_INPUT_NODE = "-10"
SUBGRAPH_OUTPUT_NODE = "-20"

PRIMITIVE_WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
WIDGET_TYPES = PRIMITIVE_WIDGET_TYPES | frozenset(
    {"MARKDOWN", "IMAGEUPLOAD", "COLOR", "LOAD_3D", "LOAD_3D_ANIMATION", "WEBCAM"}
)
"""Input types that get a widget (and so a widgets_values slot) in the 1.32.9 frontend."""

TYPE_RENAMES = {
    "T2IAdapterLoader": "ControlNetLoader",
    "ConditioningAverage ": "ConditioningAverage",
    "SDV_img2vid_Conditioning": "SVD_img2vid_Conditioning",
    "Load3DAnimation": "Load3D",
    "Preview3DAnimation": "Preview3D",
}
"""Node types the frontend renames when it loads a workflow."""

TITLE_OVERRIDES = {
    "EmptyHunyuanLatentVideo": "EmptyHunyuanLatentVideo",
    "Load3D": "Load 3D",
    "Preview3D": "Preview 3D",
    "PreviewAny": "Preview Any",
}
"""The frontend's default node titles (its English locale) where they differ from object_info
display_name, as measured by scripts/frontend-reference (tests/workflow/frontend_reference/node_titles.json)."""

FRONTEND_TRAILING_WIDGETS: dict[str, tuple[str, ...]] = {
    "SaveGLB": ("image",),
    "Preview3D": ("image",),
    "SaveAudioMP3": ("audioUI",),
    "PreviewAny": ("preview",),
}
"""Frontend-only widgets appended after the declared ones; serialised, always as ``""``."""

_UPLOAD_OPTIONS = ("image_upload", "video_upload", "file_upload")
_SAMPLER_FIX_TYPES = frozenset({"KSampler", "KSamplerAdvanced"})
_MISSING: Any = object()


# --------------------------------------------------------------------------------------------
# node definitions → widget layout


@dataclass(frozen=True)
class WidgetSlot:
    """One position of a node's ``widgets_values`` list.

    ``role`` is ``"value"`` (a real input), ``"control"`` (control_after_generate mode),
    ``"filter"`` (combo control filter), ``"upload"`` (upload button), ``"frontend"`` (a
    frontend-only widget serialised as ``""``) or ``"legacy"`` (an old forceInput slot).
    """

    name: str
    role: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    spec_type: Any = field(default=None, hash=False, compare=False)

    @property
    def serialize(self) -> bool:
        return self.role in ("value", "frontend")


def iter_input_specs(node_def: dict[str, Any]) -> Iterator[tuple[str, list[Any], str]]:
    """``(name, spec, section)`` for required then optional inputs, in ``input_order``.

    Without ``input_order`` the dicts' key order is used (the order the frontend sees).
    """
    inputs = node_def.get("input") or {}
    order = node_def.get("input_order") or {}
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        if not isinstance(specs, dict):
            continue
        names = [n for n in (order.get(section) or []) if n in specs]
        names += [n for n in specs if n not in names]
        for name in names:
            spec = specs[name]
            if isinstance(spec, (list, tuple)) and spec:
                yield name, list(spec), section
            elif isinstance(spec, str):
                yield name, [spec], section


def spec_options(spec: list[Any]) -> dict[str, Any]:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def spec_kind(spec: list[Any]) -> str:
    """``"COMBO"`` for list/COMBO specs, else the type string (``"INT"``, ``"IMAGE"``...)."""
    t = spec[0]
    if isinstance(t, (list, tuple)) or t == "COMBO":
        return "COMBO"
    return str(t)


def combo_choices(spec: list[Any]) -> list[Any]:
    t = spec[0]
    if isinstance(t, (list, tuple)):
        return list(t)
    opts = spec_options(spec)
    choices = opts.get("options")
    return list(choices) if isinstance(choices, (list, tuple)) else []


def is_widget_spec(spec: list[Any]) -> bool:
    """True when the input has a widget (and so a widgets_values slot) in the frontend."""
    return spec_kind(spec) in WIDGET_TYPES and not spec_options(spec).get("forceInput")


def has_control_slot(name: str, spec: list[Any]) -> bool:
    """True when the frontend adds the control_after_generate companion after this widget."""
    kind = spec_kind(spec)
    cag = spec_options(spec).get("control_after_generate", _MISSING)
    if kind == "INT":
        if cag is _MISSING:
            return name in SEED_NAMES
        return bool(cag)
    if kind == "COMBO":
        return cag is not _MISSING and bool(cag)
    return False


def widget_layout(
    node_def: dict[str, Any], class_type: str | None = None, legacy_force_input: bool = False
) -> list[WidgetSlot]:
    """The positional layout of ``widgets_values`` for a node of this definition (§4.7).

    With ``legacy_force_input`` the slots that old workflows kept for ``forceInput`` widgets are
    included (role ``"legacy"``).
    """
    slots: list[WidgetSlot] = []
    for name, spec, _section in iter_input_specs(node_def):
        kind = spec_kind(spec)
        opts = spec_options(spec)
        if kind not in WIDGET_TYPES:
            continue
        if opts.get("forceInput"):
            if legacy_force_input:
                slots.append(WidgetSlot(name, "legacy", kind, opts, spec[0]))
            continue
        slots.append(WidgetSlot(name, "value", kind, opts, spec[0]))
        if has_control_slot(name, spec):
            slots.append(WidgetSlot("control_after_generate", "control", "COMBO"))
            if kind == "COMBO":
                slots.append(WidgetSlot("control_filter_list", "filter", "STRING"))
        if kind == "COMBO":
            if opts.get("audio_upload"):
                slots.append(WidgetSlot("audioUI", "frontend", "STRING"))
                slots.append(WidgetSlot("upload", "upload", "BUTTON"))
            elif any(opts.get(k) for k in _UPLOAD_OPTIONS):
                slots.append(WidgetSlot("upload", "upload", "BUTTON"))
    for name in FRONTEND_TRAILING_WIDGETS.get(class_type or node_def.get("name") or "", ()):
        slots.append(WidgetSlot(name, "frontend", "STRING"))
    return slots


def default_value(spec: list[Any]) -> Any:
    """The value a fresh widget gets in the frontend (``_MISSING`` when it has none)."""
    kind = spec_kind(spec)
    opts = spec_options(spec)
    if "default" in opts:
        return opts["default"]
    if kind == "COMBO":
        choices = combo_choices(spec)
        return choices[0] if choices else _MISSING
    if kind in ("INT", "FLOAT"):
        value = 0
        lo, hi = opts.get("min"), opts.get("max")
        if isinstance(lo, (int, float)) and value < lo:
            value = lo
        if isinstance(hi, (int, float)) and value > hi:
            value = hi
        return value
    if kind == "BOOLEAN":
        return False
    if kind in ("STRING", "MARKDOWN"):
        return ""
    return _MISSING


# --------------------------------------------------------------------------------------------
# value fixes


def process_dynamic_prompt(text: str) -> tuple[str, bool]:
    """The frontend's ``processDynamicPrompt``, made deterministic.

    Strips ``/*...*/`` and ``//...`` comments, replaces ``{x}`` by ``x`` and ``{a|b|c}`` by its
    first option (the frontend picks one at random). Returns the text and whether a choice was made.
    """
    src = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    chose = False

    def run(s: str) -> str:
        nonlocal chose
        i = 0
        out: list[str] = []
        while i < len(s):
            c = s[i]
            i += 1
            if c == "\\":
                out.append("\\" + (s[i] if i < len(s) else ""))
                i += 1
            elif c == "{":
                options: list[str] = []
                cur: list[str] = []
                depth = 0
                while i < len(s):
                    ch = s[i]
                    i += 1
                    if ch == "\\":
                        cur.append("\\" + (s[i] if i < len(s) else ""))
                        i += 1
                        continue
                    if ch == "{":
                        depth += 1
                    elif ch == "}":
                        if not depth:
                            break
                        depth -= 1
                    elif ch == "|" and not depth:
                        options.append("".join(cur))
                        cur = []
                        continue
                    cur.append(ch)
                options.append("".join(cur))
                if len(options) > 1:
                    chose = True
                out.append(run(options[0]))
            else:
                out.append(c)
        return "".join(out)

    result = run(src)
    return re.sub(r"\\([{}|])", r"\1", result), chose


def wrap_value(value: Any) -> Any:
    """Arrays go to the server as ``{"__value__": [...]}``: a bare list would read as a link."""
    if isinstance(value, list):
        return {"__value__": value}
    return value


# --------------------------------------------------------------------------------------------
# graph model


@dataclass
class ConversionResult:
    """The API prompt and per-node notes about what could not be converted faithfully."""

    prompt: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Link:
    id: str
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: Any


@dataclass(frozen=True)
class _Endpoint:
    node_id: str
    slot: int


@dataclass(frozen=True)
class _Literal:
    value: Any


_Resolved = _Endpoint | _Literal | None


def _parse_links(raw: Any) -> dict[str, _Link]:
    links: dict[str, _Link] = {}
    if isinstance(raw, dict):  # some exporters store {id: link}
        raw = list(raw.values())
    for item in raw or []:
        if isinstance(item, (list, tuple)) and len(item) >= 5:
            lid, oid, oslot, tid, tslot = item[:5]
            ltype = item[5] if len(item) > 5 else None
        elif isinstance(item, dict) and "id" in item:
            lid, oid, oslot = item["id"], item.get("origin_id"), item.get("origin_slot", 0)
            tid, tslot, ltype = item.get("target_id"), item.get("target_slot", 0), item.get("type")
        else:
            continue
        links[str(lid)] = _Link(str(lid), str(oid), _slot(lid, "origin_slot", oslot), str(tid),
                                _slot(lid, "target_slot", tslot), ltype)
    return links


def _slot(link_id: Any, field_name: str, value: Any) -> int:
    """A link's slot index: an integer (``null`` means 0, as litegraph reads it); anything else
    is refused rather than guessed (``int("a")`` would escape as a ValueError, ``1.5`` truncate)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InputError(f"link {link_id}: {field_name} is {value!r}, expected an integer")


@dataclass
class _Scope:
    """One graph level: the root graph, one subgraph instance, or one legacy group node instance."""

    nodes: dict[str, dict[str, Any]]
    links: dict[str, _Link]
    prefix: str = ""
    parent: _Scope | None = None
    instance: dict[str, Any] | None = None
    definition: dict[str, Any] | None = None
    """The subgraph definition (``inputs``/``outputs``) of this scope, for non-root scopes."""
    instance_widgets: dict[str, Any] = field(default_factory=dict)
    """Subgraph input name → the instance's promoted widget value."""
    widget_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Inner node id → {widget name: value} set from the instance (proxy/group widgets)."""
    label: str = "workflow"

    def full_id(self, node_id: str) -> str:
        return f"{self.prefix}{node_id}"


def _types_compatible(a: Any, b: Any) -> bool:
    """litegraph's isValidConnection: ``*``/empty match anything; unions ``A,B`` overlap."""
    a = "" if a in (None, "*") else str(a)
    b = "" if b in (None, "*") else str(b)
    if not a or not b or a == b:
        return True
    a, b = a.lower(), b.lower()
    if "," not in a and "," not in b:
        return a == b
    return any(x == y for x in a.split(",") for y in b.split(","))


class _Converter:
    def __init__(self, workflow: dict[str, Any], object_info: dict[str, Any]) -> None:
        self.workflow = workflow
        self.object_info = object_info
        self.warnings: list[str] = []
        self.prompt: dict[str, dict[str, Any]] = {}
        defs = (workflow.get("definitions") or {}).get("subgraphs") or []
        self.subgraphs: dict[str, dict[str, Any]] = {
            str(sg["id"]): sg for sg in defs if isinstance(sg, dict) and "id" in sg
        }
        self.group_nodes: dict[str, Any] = (workflow.get("extra") or {}).get("groupNodes") or {}
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def warn(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.warnings.append(text)

    @staticmethod
    def node_type(node: dict[str, Any]) -> str:
        t = str(node.get("type", ""))
        return TYPE_RENAMES.get(t, t)

    def group_name(self, node_type: str) -> str | None:
        for sep in (">", "/"):
            prefix = f"workflow{sep}"
            if node_type.startswith(prefix) and node_type[len(prefix) :] in self.group_nodes:
                return node_type[len(prefix) :]
        return None

    # ------------------------------------------------------------------ driver
    def run(self) -> ConversionResult:
        nodes = self.workflow.get("nodes")
        if not isinstance(nodes, list):
            raise InputError("not an editor-format workflow: 'nodes' is missing or not a list")
        root = _Scope(
            nodes={str(n["id"]): n for n in nodes if isinstance(n, dict) and "id" in n},
            links=_parse_links(self.workflow.get("links")),
        )
        self.emit_scope(root, depth=0)
        # dangling-link clean-up: inputs linking to nodes that were not emitted are deleted
        for entry in self.prompt.values():
            inputs = entry["inputs"]
            for name in [k for k, v in inputs.items() if _is_link(v) and str(v[0]) not in self.prompt]:
                del inputs[name]
        return ConversionResult(prompt=self.prompt, warnings=self.warnings)

    def emit_scope(self, scope: _Scope, depth: int) -> None:
        if depth > 32:
            raise InputError(f"{scope.label}: subgraphs nested more than 32 levels deep (a cycle?)")
        for node_id, node in scope.nodes.items():
            ntype = self.node_type(node)
            if ntype in VIRTUAL_TYPES:
                continue
            if ntype in self.subgraphs:
                # 1.32.9 quirk: the instance's own mode is not passed on to the inner nodes
                self.emit_scope(self.subgraph_scope(scope, node), depth + 1)
                continue
            if self.group_name(ntype) is not None:
                self.emit_scope(self.group_scope(scope, node), depth + 1)
                continue
            if node.get("mode", 0) in (MODE_NEVER, MODE_BYPASS):
                continue
            self.emit_node(scope, node_id, node, ntype)

    # ------------------------------------------------------------------ one node
    def title_of(self, node: dict[str, Any], ntype: str) -> str:
        title = node.get("title")
        if isinstance(title, str) and title:
            return title
        if ntype in TITLE_OVERRIDES:
            return TITLE_OVERRIDES[ntype]
        node_def = self.object_info.get(ntype) or {}
        return node_def.get("display_name") or ntype

    def emit_node(self, scope: _Scope, node_id: str, node: dict[str, Any], ntype: str) -> None:
        full_id = scope.full_id(node_id)
        node_def = self.object_info.get(ntype)
        inputs: dict[str, Any] = {}
        specs: dict[str, list[Any]] = {}
        if node_def is None:
            self.warn(
                f"node {full_id} ({ntype}): node type not known to the server; "
                "widget values could not be mapped and were left out"
            )
        else:
            specs = {name: spec for name, spec, _ in iter_input_specs(node_def)}
            inputs = self.widget_inputs(full_id, node, ntype, node_def)
        for name, value in scope.widget_overrides.get(node_id, {}).items():
            if node_def is None or name in specs:
                inputs[name] = self.literal_for(full_id, ntype, name, specs.get(name), value)
        for slot in node.get("inputs") or []:
            if not isinstance(slot, dict) or slot.get("link") is None:
                continue
            name = str(slot.get("name"))
            slot_widget = (
                (slot.get("widget") or {}).get("name") if isinstance(slot.get("widget"), dict) else None
            )
            if node_def is not None and slot_widget and slot_widget not in specs:
                continue  # 1.32.9 drops a widget input the node definition no longer has
            resolved = self.resolve_link(scope, slot["link"], node_id, name, slot.get("type"))
            if isinstance(resolved, _Endpoint):
                inputs[name] = [resolved.node_id, resolved.slot]
            elif isinstance(resolved, _Literal):
                widget_name = (slot.get("widget") or {}).get("name", name)
                inputs[widget_name] = self.literal_for(
                    full_id, ntype, widget_name, specs.get(widget_name), resolved.value
                )
        self.prompt[full_id] = {
            "inputs": inputs,
            "class_type": ntype,
            "_meta": {"title": self.title_of(node, ntype)},
        }

    def literal_for(self, full_id: str, ntype: str, name: str, spec: list[Any] | None, value: Any) -> Any:
        if spec is not None and isinstance(value, str) and spec_kind(spec) == "STRING":
            if spec_options(spec).get("dynamicPrompts"):
                value = self.dynamic_prompt(full_id, ntype, name, value)
        return wrap_value(value)

    def dynamic_prompt(self, full_id: str, ntype: str, name: str, value: str) -> str:
        out, chose = process_dynamic_prompt(value)
        if chose:
            self.warn(
                f"node {full_id} ({ntype}): input '{name}' has {{a|b}} choices, which the frontend "
                "picks at random; the first option of each was used"
            )
        return out

    def widget_inputs(
        self, full_id: str, node: dict[str, Any], ntype: str, node_def: dict[str, Any]
    ) -> dict[str, Any]:
        layout = widget_layout(node_def, ntype)
        values = node.get("widgets_values")
        if isinstance(values, dict):
            if values:
                self.warn(f"node {full_id} ({ntype}): widgets could not be mapped offline; defaults used")
            values = []
        elif not isinstance(values, list):
            if values is not None:
                self.warn(
                    f"node {full_id} ({ntype}): 'widgets_values' is a {type(values).__name__}, not a list; "
                    "defaults used for its widgets"
                )
            values = []
        legacy = widget_layout(node_def, ntype, legacy_force_input=True)
        if len(legacy) != len(layout) and len(values) == len(legacy):
            layout = legacy
        specs = {name: spec for name, spec, _ in iter_input_specs(node_def)}
        inputs: dict[str, Any] = {}
        for index, slot in enumerate(layout):
            if not slot.serialize:
                continue
            if slot.role == "frontend":
                inputs[slot.name] = ""
                continue
            spec = specs[slot.name]
            value = values[index] if index < len(values) else default_value(spec)
            if value is _MISSING:
                continue
            if (
                slot.name == "sampler_name"
                and ntype in _SAMPLER_FIX_TYPES
                and isinstance(value, str)
                and value.startswith("sample_")
            ):
                value = value[len("sample_") :]
            inputs[slot.name] = self.literal_for(full_id, ntype, slot.name, spec, value)
        if len(values) > len(layout):
            self.warn(
                f"node {full_id} ({ntype}): {len(values)} widget values for {len(layout)} widget slots; "
                "the extra values were ignored (a custom widget or a changed node definition?)"
            )
        return inputs

    # ------------------------------------------------------------------ links
    def resolve_link(
        self, scope: _Scope, link_id: Any, target_id: str, input_name: str, target_type: Any
    ) -> _Resolved:
        link = scope.links.get(str(link_id))
        if link is None:
            raise InputError(
                f"{scope.label}: node {scope.full_id(target_id)} input '{input_name}' uses link "
                f"{link_id}, which does not exist in the links list"
            )
        return self.resolve_output(
            scope, link.origin_id, link.origin_slot, target_type, scope.full_id(target_id), input_name, 0
        )

    def resolve_output(
        self,
        scope: _Scope,
        origin_id: str,
        origin_slot: int,
        target_type: Any,
        target_id: str,
        input_name: str,
        depth: int,
    ) -> _Resolved:
        if depth > 256:
            raise InputError(
                f"{scope.label}: node {target_id} input '{input_name}': the link chain is circular"
            )
        if origin_id == SUBGRAPH_INPUT_NODE and scope.definition is not None:
            return self.resolve_subgraph_input(scope, origin_slot, target_type, target_id, input_name, depth)
        node = scope.nodes.get(origin_id)
        if node is None:
            raise InputError(
                f"{scope.label}: node {target_id} input '{input_name}' is linked to "
                f"node {origin_id}, which does not exist"
            )
        ntype = self.node_type(node)
        mode = node.get("mode", 0)
        if ntype == "PrimitiveNode":
            if scope.definition is not None and str(scope.definition.get("id")) in self.subgraphs:
                # 1.32.9 applies only the root graph's PrimitiveNodes; inside a subgraph the target
                # keeps its own saved widget value (tests/workflow/fixtures/probes/probe_subgraph_modes.json)
                return None
            values = node.get("widgets_values")
            if isinstance(values, list) and values:
                return _Literal(values[0])
            return None
        if ntype == "Reroute":
            return self.follow_input(
                scope, node, origin_slot, target_type, target_id, input_name, depth, by_index=True
            )
        if mode == MODE_BYPASS and ntype not in VIRTUAL_TYPES:
            return self.follow_bypass(scope, node, origin_slot, target_type, target_id, input_name, depth)
        if ntype in self.subgraphs:
            inner = self.subgraph_scope(scope, node)
            return self.resolve_subgraph_output(inner, origin_slot, target_type, target_id, input_name, depth)
        if self.group_name(ntype) is not None:
            inner = self.group_scope(scope, node)
            return self.resolve_subgraph_output(inner, origin_slot, target_type, target_id, input_name, depth)
        return _Endpoint(scope.full_id(origin_id), origin_slot)

    def follow_input(
        self,
        scope: _Scope,
        node: dict[str, Any],
        index: int,
        target_type: Any,
        target_id: str,
        input_name: str,
        depth: int,
        by_index: bool,
    ) -> _Resolved:
        slots = node.get("inputs") or []
        if not slots:
            return None
        slot = slots[index] if by_index and index < len(slots) else slots[0]
        if not isinstance(slot, dict) or slot.get("link") is None:
            return None
        link = scope.links.get(str(slot["link"]))
        if link is None:
            raise InputError(
                f"{scope.label}: node {scope.full_id(str(node.get('id')))} input '{slot.get('name')}' uses "
                f"link {slot['link']}, which does not exist in the links list"
            )
        return self.resolve_output(
            scope, link.origin_id, link.origin_slot, target_type, target_id, input_name, depth + 1
        )

    def follow_bypass(
        self,
        scope: _Scope,
        node: dict[str, Any],
        out_slot: int,
        target_type: Any,
        target_id: str,
        input_name: str,
        depth: int,
    ) -> _Resolved:
        """§4.9.5: pick the bypassed node's input that stands in for output ``out_slot``."""
        slots = [s if isinstance(s, dict) else {} for s in node.get("inputs") or []]
        outputs = node.get("outputs") or []
        out_type = (
            outputs[out_slot].get("type")
            if out_slot < len(outputs) and isinstance(outputs[out_slot], dict)
            else None
        )
        chosen: int | None = None
        if target_type in (None, "", "*"):
            chosen = out_slot if out_slot < len(slots) else (0 if slots else None)
        else:
            if out_slot < len(slots):
                st = slots[out_slot].get("type")
                if _types_compatible(st, out_type) and _types_compatible(st, target_type):
                    chosen = out_slot
            if chosen is None:
                chosen = next((i for i, s in enumerate(slots) if s.get("type") == target_type), None)
            if chosen is None:
                chosen = next(
                    (i for i, s in enumerate(slots) if _types_compatible(s.get("type"), target_type)), None
                )
        if chosen is None:
            self.warn(
                f"node {target_id}: input '{input_name}' comes from bypassed node "
                f"{scope.full_id(str(node.get('id')))}, which has no matching input to pass through; "
                "the input was left out"
            )
            return None
        slot = slots[chosen]
        if slot.get("link") is None:
            return None
        link = scope.links.get(str(slot["link"]))
        if link is None:
            raise InputError(
                f"{scope.label}: node {scope.full_id(str(node.get('id')))} input '{slot.get('name')}' uses "
                f"link {slot['link']}, which does not exist in the links list"
            )
        return self.resolve_output(
            scope, link.origin_id, link.origin_slot, target_type, target_id, input_name, depth + 1
        )

    # ------------------------------------------------------------------ subgraphs
    def subgraph_scope(self, parent: _Scope, instance: dict[str, Any]) -> _Scope:
        sg = self.subgraphs[self.node_type(instance)]
        iid = str(instance["id"])
        inner_nodes = {str(n["id"]): n for n in sg.get("nodes") or [] if isinstance(n, dict) and "id" in n}
        scope = _Scope(
            nodes=inner_nodes,
            links=_parse_links(sg.get("links")),
            prefix=parent.full_id(iid) + ":",
            parent=parent,
            instance=instance,
            definition=sg,
            label=f"subgraph '{sg.get('name') or sg['id']}' (node {parent.full_id(iid)})",
        )
        self.map_promoted_widgets(scope, sg, instance)
        return scope

    def map_promoted_widgets(self, scope: _Scope, sg: dict[str, Any], instance: dict[str, Any]) -> None:
        values = instance.get("widgets_values")
        if not isinstance(values, list) or not values:
            return
        sg_inputs = [i for i in sg.get("inputs") or [] if isinstance(i, dict)]
        proxies = (instance.get("properties") or {}).get("proxyWidgets")
        if (
            isinstance(proxies, list)
            and proxies
            and all(isinstance(p, list) and len(p) == 2 for p in proxies)
        ):
            # Values follow the proxy order. A directly promoted widget ([inner id, name]) is a view
            # of the inner node's own widget: 1.32.9 skips its position and keeps the inner value
            # (measured by tests/workflow/fixtures/probes/probe_subgraph*.json).
            for (owner, wname), value in zip(proxies, values, strict=False):
                if str(owner) == "-1":
                    scope.instance_widgets[str(wname)] = value
            return
        saved = {str(s.get("name")) for s in instance.get("inputs") or [] if isinstance(s, dict)}
        widget_inputs = [
            i
            for i in sg_inputs
            if (
                self.subgraph_input_has_widget(scope, i)
                if str(i.get("name")) in saved
                # 1.32.9: an input the instance did not save gets a widget position from its type
                else i.get("type") in PRIMITIVE_WIDGET_TYPES or self.subgraph_input_links_widget(scope, i)
            )
        ]
        for sg_input, value in zip(widget_inputs, values, strict=False):
            scope.instance_widgets[str(sg_input.get("name"))] = value

    def subgraph_input_has_widget(self, scope: _Scope, sg_input: dict[str, Any], depth: int = 0) -> bool:
        """True when the frontend promotes a widget for this subgraph input onto the instance.

        1.32.9 promotes the widget of the inner node the input links to, and only when that node
        really has a widget of the slot's name (a widget input of its definition, or a promoted
        widget of a nested subgraph). Inputs without one take no ``widgets_values`` position and,
        unlinked outside, are left out of the prompt.
        """
        for lid in sg_input.get("linkIds") or []:
            link = scope.links.get(str(lid))
            target = scope.nodes.get(link.target_id) if link else None
            if not target:
                continue
            slots = target.get("inputs") or []
            slot = slots[link.target_slot] if link.target_slot < len(slots) else None
            widget_name = ((slot or {}).get("widget") or {}).get("name") if isinstance(slot, dict) else None
            if widget_name and self.node_has_widget(scope, target, str(widget_name), depth):
                return True
        return False

    @staticmethod
    def subgraph_input_links_widget(scope: _Scope, sg_input: dict[str, Any]) -> bool:
        for lid in sg_input.get("linkIds") or []:
            link = scope.links.get(str(lid))
            target = scope.nodes.get(link.target_id) if link else None
            if target:
                slots = target.get("inputs") or []
                if link.target_slot < len(slots) and (slots[link.target_slot] or {}).get("widget"):
                    return True
        return False

    def node_has_widget(self, scope: _Scope, node: dict[str, Any], widget_name: str, depth: int) -> bool:
        ntype = self.node_type(node)
        if ntype in self.subgraphs:
            if depth > 32:
                return False
            sg = self.subgraphs[ntype]
            inner = _Scope(
                nodes={str(n["id"]): n for n in sg.get("nodes") or [] if isinstance(n, dict) and "id" in n},
                links=_parse_links(sg.get("links")),
            )
            return any(
                isinstance(i, dict)
                and i.get("name") == widget_name
                and self.subgraph_input_has_widget(inner, i, depth + 1)
                for i in sg.get("inputs") or []
            )
        node_def = self.object_info.get(ntype)
        if node_def is None:
            return ntype not in VIRTUAL_TYPES  # unknown to this server: assume the widget exists
        return any(
            name == widget_name and is_widget_spec(spec) for name, spec, _ in iter_input_specs(node_def)
        )

    def resolve_subgraph_input(
        self, scope: _Scope, index: int, target_type: Any, target_id: str, input_name: str, depth: int
    ) -> _Resolved:
        assert scope.definition is not None and scope.parent is not None and scope.instance is not None
        sg_inputs = scope.definition.get("inputs") or []
        if index >= len(sg_inputs):
            raise InputError(
                f"{scope.label}: node {target_id} input '{input_name}' is linked to "
                f"subgraph input {index}, which does not exist"
            )
        sg_input = sg_inputs[index]
        name = str(sg_input.get("name"))
        instance = scope.instance
        outer_slots = [s for s in instance.get("inputs") or [] if isinstance(s, dict)]
        outer = next((s for s in outer_slots if s.get("name") == name), None)
        if outer is None and "_group_input" in sg_input:
            k = sg_input["_group_input"]
            outer = outer_slots[k] if k < len(outer_slots) else None
        if outer is not None and outer.get("link") is not None:
            link = scope.parent.links.get(str(outer["link"]))
            if link is None:
                raise InputError(
                    f"{scope.parent.label}: node {scope.parent.full_id(str(instance.get('id')))} input "
                    f"'{name}' uses link {outer['link']}, which does not exist in the links list"
                )
            return self.resolve_output(
                scope.parent, link.origin_id, link.origin_slot, target_type, target_id, input_name, depth + 1
            )
        if name in scope.instance_widgets:
            return _Literal(scope.instance_widgets[name])
        return None

    def resolve_subgraph_output(
        self, scope: _Scope, index: int, target_type: Any, target_id: str, input_name: str, depth: int
    ) -> _Resolved:
        assert scope.definition is not None
        outputs = scope.definition.get("outputs") or []
        if index >= len(outputs):
            raise InputError(
                f"{scope.label}: an outer node links to output {index} of the subgraph, which does not exist"
            )
        for lid in outputs[index].get("linkIds") or []:
            link = scope.links.get(str(lid))
            if link is None:
                continue
            return self.resolve_output(
                scope, link.origin_id, link.origin_slot, target_type, target_id, input_name, depth + 1
            )
        return None

    # ------------------------------------------------------------------ legacy group nodes
    def group_scope(self, parent: _Scope, instance: dict[str, Any]) -> _Scope:
        name = self.group_name(self.node_type(instance))
        assert name is not None
        sg = self.group_definition(name, instance)
        iid = str(instance["id"])
        scope = _Scope(
            nodes={str(n["id"]): n for n in sg["nodes"]},
            links=_parse_links(sg["links"]),
            prefix=parent.full_id(iid) + ":",
            parent=parent,
            instance=instance,
            definition=sg,
            label=f"group node '{name}' (node {parent.full_id(iid)})",
        )
        values = instance.get("widgets_values")
        if isinstance(values, list):
            for (inner, wname), value in zip(sg["_widgets"], values, strict=False):
                if inner is not None:
                    scope.widget_overrides.setdefault(inner, {})[wname] = value
        return scope

    def group_definition(self, name: str, instance: dict[str, Any]) -> dict[str, Any]:
        """Rebuild a legacy group node as a subgraph-like definition (frontend groupNode.ts)."""
        data = self.group_nodes[name]
        raw_nodes = [copy.deepcopy(n) for n in data.get("nodes") or [] if isinstance(n, dict)]
        raw_links = [lk for lk in data.get("links") or [] if isinstance(lk, list) and len(lk) >= 4]
        external = {(e[0], e[1]) for e in data.get("external") or [] if isinstance(e, list) and len(e) >= 2}
        links_to: dict[tuple[int, int], list[Any]] = {}
        links_from: set[tuple[int, int]] = set()
        for lk in raw_links:
            if lk[0] is None:
                continue
            links_to[(lk[2], lk[3])] = lk
            links_from.add((lk[0], lk[1]))
        mode = instance.get("mode", 0)
        nodes: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        sg_inputs: list[dict[str, Any]] = []
        sg_outputs: list[dict[str, Any]] = []
        widgets: list[tuple[str | None, str]] = []
        converted_later: list[tuple[int, dict[str, Any], list[tuple[int, str]], int]] = []
        lid = 0
        slot_names_of: dict[int, dict[int, str]] = {}
        for index, node in enumerate(raw_nodes):
            node["id"] = index
            for saved_slot in node.get("inputs") or []:
                if isinstance(saved_slot, dict):
                    saved_slot["link"] = None
            if mode in (MODE_NEVER, MODE_BYPASS):
                node["mode"] = mode
            nodes.append(node)
            ntype = self.node_type(node)
            node_def = self.object_info.get(ntype)
            if ntype == "PrimitiveNode" or node_def is None:
                if ntype != "PrimitiveNode" and ntype not in VIRTUAL_TYPES:
                    self.warn(f"group node '{name}': inner node type {ntype} not known to the server")
                continue
            slot_names: list[str] = []
            converted: list[tuple[int, str]] = []
            saved = node.get("inputs") or []
            for iname, spec, _ in iter_input_specs(node_def):
                if is_widget_spec(spec):
                    conv = next(
                        (
                            i
                            for i, s in enumerate(saved)
                            if isinstance(s, dict)
                            and s.get("name") == iname
                            and (s.get("widget") or {}).get("name") == iname
                        ),
                        -1,
                    )
                    if conv > -1:
                        converted.append((conv, iname))
                    else:
                        widgets.append((str(index), iname))
                        if has_control_slot(iname, spec):
                            widgets.append((None, "control_after_generate"))
                        if any(spec_options(spec).get(k) for k in _UPLOAD_OPTIONS):
                            widgets.append((None, "upload"))
                else:
                    slot_names.append(iname)
            for j, _iname in enumerate(slot_names):
                if (index, j) not in links_to:
                    sg_inputs.append(
                        {"name": f"{index}:{j}", "_group_input": len(sg_inputs), "linkIds": [f"in{lid}"]}
                    )
                    links.append(
                        {
                            "id": f"in{lid}",
                            "origin_id": -10,
                            "origin_slot": len(sg_inputs) - 1,
                            "target_id": index,
                            "target_slot": j,
                        }
                    )
                    lid += 1
            converted = sorted(converted)
            converted_later.append((index, node, converted, len(slot_names)))
            names = dict(enumerate(slot_names))
            names.update({len(slot_names) + k: iname for k, (_c, iname) in enumerate(converted)})
            slot_names_of[index] = names
            for out_index in range(len(node_def.get("output") or [])):
                hidden = (index, out_index) in links_from and (index, out_index) not in external
                if not hidden:
                    sg_outputs.append({"name": f"{index}:{out_index}", "linkIds": [f"out{lid}"]})
                    links.append(
                        {
                            "id": f"out{lid}",
                            "origin_id": index,
                            "origin_slot": out_index,
                            "target_id": -20,
                            "target_slot": len(sg_outputs) - 1,
                        }
                    )
                    lid += 1
        for index, _node, converted, n_slots in converted_later:
            for k, (_saved_index, iname) in enumerate(converted):
                if (index, n_slots + k) in links_to:
                    continue
                widgets.append((str(index), iname))
                sg_inputs.append(
                    {
                        "name": f"{index}:{n_slots + k}",
                        "_group_input": len(sg_inputs),
                        "linkIds": [f"in{lid}"],
                    }
                )
                links.append(
                    {
                        "id": f"in{lid}",
                        "origin_id": -10,
                        "origin_slot": len(sg_inputs) - 1,
                        "target_id": index,
                        "target_slot": n_slots + k,
                    }
                )
                lid += 1

        def attach(target_index: Any, slot_index: int, link_id: str) -> None:
            if not isinstance(target_index, int) or not 0 <= target_index < len(nodes):
                return
            slots = nodes[target_index].setdefault("inputs", [])
            names = slot_names_of.get(target_index, {})
            while len(slots) <= slot_index:
                slots.append({"name": names.get(len(slots), f"input{len(slots)}"), "link": None})
            slot = dict(slots[slot_index]) if isinstance(slots[slot_index], dict) else {}
            slot.setdefault("name", names.get(slot_index, f"input{slot_index}"))
            slot["link"] = link_id
            slots[slot_index] = slot

        for lk in raw_links:
            if lk[0] is None:
                continue
            links.append(
                {
                    "id": f"g{lid}",
                    "origin_id": lk[0],
                    "origin_slot": lk[1],
                    "target_id": lk[2],
                    "target_slot": lk[3],
                    "type": lk[5] if len(lk) > 5 else None,
                }
            )
            attach(lk[2], lk[3], f"g{lid}")
            lid += 1
        for lk in links:
            if lk["origin_id"] == -10:
                attach(lk["target_id"], lk["target_slot"], lk["id"])
        self.warn(
            f"node {instance.get('id')} (group node '{name}'): legacy group node expanded offline; "
            "check its inputs in the converted prompt"
        )
        return {
            "id": f"group:{name}",
            "name": name,
            "nodes": nodes,
            "links": links,
            "inputs": sg_inputs,
            "outputs": sg_outputs,
            "_widgets": widgets,
        }


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def editor_to_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> ConversionResult:
    """Convert an editor-format workflow to the API prompt the 1.32.9 frontend would queue.

    Raises ``InputError`` where the frontend refuses too: a link id missing from ``links``, a link
    from a node that does not exist, a circular reroute chain.
    """
    if not isinstance(workflow, dict):
        raise InputError("not an editor-format workflow: expected an object with 'nodes' and 'links'")
    return _Converter(workflow, object_info or {}).run()
