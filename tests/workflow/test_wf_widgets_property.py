"""Property tests of the positional widget mapping (COMFY_API §4.7)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from comfytui.core.workflows.convert import editor_to_api, widget_layout

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def input_specs(draw) -> tuple[str, list[Any]]:
    kind = draw(st.sampled_from(["INT", "FLOAT", "STRING", "BOOLEAN", "LIST", "COMBO", "IMAGE", "MODEL"]))
    opts: dict[str, Any] = {}
    if kind == "INT":
        cag = draw(st.sampled_from(["absent", True, False, "randomize"]))
        if cag != "absent":
            opts["control_after_generate"] = cag
        return kind, ["INT", opts]
    if kind == "LIST":
        if draw(st.booleans()):
            opts["control_after_generate"] = True
        if draw(st.booleans()):
            opts["image_upload"] = True
        return "COMBO", [["a", "b", "c"], opts]
    if kind == "COMBO":
        opts["options"] = ["x", "y"]
        return kind, ["COMBO", opts]
    if kind in ("STRING", "FLOAT", "BOOLEAN") and draw(st.booleans()):
        opts["forceInput"] = draw(st.booleans())
    return kind, [kind, opts]


@st.composite
def node_defs(draw):
    names = draw(
        st.lists(st.sampled_from(["seed", "noise_seed"]) | NAMES, min_size=1, max_size=8, unique=True)
    )
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for name in names:
        _kind, spec = draw(input_specs())
        (required if draw(st.booleans()) else optional)[name] = spec
    node_def = {"input": {"required": required, "optional": optional}, "output": ["IMAGE"]}
    if draw(st.booleans()):
        node_def["input_order"] = {"required": list(required), "optional": list(optional)}
    return node_def


def value_for(slot) -> Any:
    return {
        "INT": 12345,
        "FLOAT": 0.25,
        "STRING": f"text-{slot.name}",
        "BOOLEAN": True,
        "COMBO": "b" if isinstance(slot.spec_type, list) else "y",
    }[slot.kind]


@settings(max_examples=200, deadline=None)
@given(node_defs())
def test_values_map_back_to_their_names(node_def):
    layout = widget_layout(node_def, "N")
    values: list[Any] = []
    expected: dict[str, Any] = {}
    for slot in layout:
        if slot.role == "value":
            v = value_for(slot)
            expected[slot.name] = v
            values.append(v)
        elif slot.role == "control":
            values.append("increment")
        elif slot.role == "filter":
            values.append("")
        else:
            values.append("image")
    wf = {
        "nodes": [{"id": 1, "type": "N", "mode": 0, "inputs": [], "outputs": [], "widgets_values": values}],
        "links": [],
    }
    inputs = editor_to_api(wf, {"N": node_def}).prompt["1"]["inputs"]
    assert inputs == expected
    # the companions never leak into the prompt
    assert not {"control_after_generate", "control_filter_list", "upload"} & set(inputs)
    assert "increment" not in inputs.values()


@settings(max_examples=200, deadline=None)
@given(node_defs())
def test_layout_order_and_control_slots(node_def):
    layout = widget_layout(node_def, "N")
    value_names = [s.name for s in layout if s.role == "value"]
    req = node_def["input"]["required"]
    opt = node_def["input"]["optional"]
    order = [n for n in list(req) + list(opt)]
    assert value_names == [n for n in order if n in value_names]  # required then optional, in order
    for i, slot in enumerate(layout):
        if slot.role == "control":
            prev = layout[i - 1]
            assert prev.role == "value" and prev.kind in ("INT", "COMBO")
        if slot.role == "value" and slot.kind == "INT":
            cag = slot.options.get("control_after_generate", "absent")
            has = (slot.name in ("seed", "noise_seed")) if cag == "absent" else bool(cag)
            nxt = layout[i + 1] if i + 1 < len(layout) else None
            assert (nxt is not None and nxt.role == "control") == has


@settings(max_examples=100, deadline=None)
@given(node_defs(), st.integers(min_value=0, max_value=6))
def test_short_lists_fall_back_to_defaults_without_error(node_def, keep):
    layout = widget_layout(node_def, "N")
    wf = {
        "nodes": [{"id": 1, "type": "N", "mode": 0, "widgets_values": [None] * min(keep, len(layout))}],
        "links": [],
    }
    inputs = editor_to_api(wf, {"N": node_def}).prompt["1"]["inputs"]
    assert set(inputs) <= {s.name for s in layout if s.serialize}
