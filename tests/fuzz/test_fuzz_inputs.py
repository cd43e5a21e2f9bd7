"""Hypothesis fuzzing of the user-file readers added for issue 10: workflow JSON (API and editor
shapes with hostile slots, widgets_values and numbers), editor conversion and safetensors
headers. Only ``InputError`` (a ComfyTuiError with exit 2) may escape, never a RecursionError,
ValueError or TypeError."""

from __future__ import annotations

import json
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfytui.core.errors import InputError
from comfytui.core.models.safetensors import parse_header
from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.load import parse_workflow_json
from comfytui.core.workflows.params import parse_value

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OBJECT_INFO = {"EmptyImage": {"input": {"required": {"width": ["INT", {"default": 8}], "color": ["INT", {}]}},
                              "output": ["IMAGE"], "output_node": False},
               "PreviewImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": True}}
junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def editor_workflows(draw) -> dict:
    nodes = [{"id": i, "type": draw(st.sampled_from(["EmptyImage", "PreviewImage", "Reroute", "Nope"])),
              "mode": draw(st.sampled_from([0, 0, 2, 4])),
              "inputs": [{"name": "images", "type": "IMAGE", "link": draw(junk)}],
              "widgets_values": draw(junk)} for i in range(1, draw(st.integers(1, 4)) + 1)]
    links = [[draw(junk), draw(junk), draw(junk), draw(junk), draw(junk), "IMAGE"]
             for _ in range(draw(st.integers(0, 3)))]
    return {"nodes": nodes, "links": links, "version": 0.4}


@FAST
@given(editor_workflows())
def test_editor_workflows_load_and_convert_or_say_why(workflow: dict) -> None:
    text = json.dumps(workflow, allow_nan=True)
    try:
        loaded = parse_workflow_json(text, "w.json")
        editor_to_api(loaded.workflow, OBJECT_INFO)
    except InputError as exc:
        assert str(exc)


@FAST
@given(st.text(alphabet='{}[]":,0123456789NaInfity-e. a', max_size=200))
def test_any_json_ish_text_loads_or_names_its_position(text: str) -> None:
    try:
        parse_workflow_json(text, "w.json")
    except InputError as exc:
        assert str(exc).startswith("w.json")


@FAST
@given(st.text(max_size=30))
def test_override_values_are_never_non_finite_numbers(text: str) -> None:
    value = parse_value(text)
    if isinstance(value, float):
        assert value == value and value not in (float("inf"), float("-inf"))


@FAST
@given(st.binary(max_size=200), st.integers(1, 3000))
def test_safetensors_headers_parse_or_raise_one_error(raw: bytes, depth: int) -> None:
    for blob in (raw, b'{"a": ' + b"[" * depth + b"]" * depth + b"}",
                 b'{"__metadata__": {"k": ' + b"[" * depth + b"]" * depth + b"}}"):
        try:
            parse_header(blob, header_length=len(blob), file_size=8 + len(blob) + struct.calcsize("<Q"), path="m")
        except InputError as exc:
            assert str(exc).startswith("m: ")
