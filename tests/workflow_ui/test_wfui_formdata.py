"""The form's domain work (core.workflows.form), without the UI: loading against the real ComfyUI,
parsing what a user types, applying edits."""

from __future__ import annotations

from pathlib import Path

import pytest
from wfui_helpers import object_info_fixture  # noqa: F401 - a fixture

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.config import ServerSettings
from comfytui.core.workflows.form import apply_edits, load_form, object_info_cache, parse_value
from comfytui.core.workflows.library import WorkflowEntry
from comfytui.core.workflows.params import editable_params

REPO = Path(__file__).resolve().parents[2]
ACCEPTANCE = REPO / "tests" / "workflow" / "fixtures" / "acceptance.json"


def entry_for(path: Path) -> WorkflowEntry:
    stat = path.stat()
    return WorkflowEntry(path.name, path, "user", stat.st_size, stat.st_mtime)


@pytest.mark.comfy
async def test_an_editor_workflow_loads_converted_with_its_inputs_and_installed_models(comfy_server, comfytui_home) -> None:
    async with ComfyClient(ServerSettings(url=comfy_server.url)) as client:
        data = await load_form(entry_for(ACCEPTANCE), client, object_info_ttl_s=60.0)
    assert data.loaded.format == "editor"
    assert data.base_prompt and all("class_type" in node for node in data.base_prompt.values())
    assert data.params, "the acceptance graph has literal inputs to edit"
    names = {p.input_name for p in data.params}
    assert "seed" in names or "noise_seed" in names
    combos = [p for p in data.params if p.kind == "COMBO"]
    for param in combos:  # every combo offers at least the server's own choices
        assert set(param.choices or ()) <= set(data.choices_for(param) or ())
    assert data.choices_for(next(p for p in data.params if p.kind != "COMBO")) is None


def test_one_object_info_cache_per_ttl() -> None:
    assert object_info_cache(123.0) is object_info_cache(123.0)
    assert object_info_cache(123.0) is not object_info_cache(456.0)


def test_typed_values_are_parsed_and_out_of_range_ones_say_why(object_info) -> None:
    prompt = {
        "1": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                                                   "scheduler": "normal", "denoise": 1.0}},
    }
    params = {p.input_name: p for p in editable_params(prompt, object_info)}
    assert parse_value(params["steps"], "30") == (30, None)
    assert parse_value(params["steps"], "abc") == ("abc", "not a whole number: 'abc'")
    assert parse_value(params["steps"], "")[1] == "enter a whole number"
    value, error = parse_value(params["steps"], "0")
    assert value == 0 and error is not None and "below the minimum 1" in error
    assert parse_value(params["cfg"], "nan")[1] == "enter a finite number"
    assert parse_value(params["sampler_name"], None)[1] == "choose a value"
    assert "not among the server's" in (parse_value(params["sampler_name"], "nope")[1] or "")


def test_edits_go_into_a_copy_of_the_prompt() -> None:
    prompt = {"1": {"class_type": "KSampler", "inputs": {"seed": 5}}, "2": {"class_type": "X"}}
    edited = apply_edits(prompt, {"1": {"seed": 7}, "2": {"text": "hi"}})
    assert edited["1"]["inputs"]["seed"] == 7 and edited["2"]["inputs"] == {"text": "hi"}
    assert prompt["1"]["inputs"]["seed"] == 5 and "inputs" not in prompt["2"]
