"""Preflight, batches and saving edits back into editor graphs: pure functions, captured /object_info."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from wfui_helpers import object_info_fixture  # noqa: F401 - a fixture

from comfytui.core.errors import InputError
from comfytui.core.workflows.batch import batch_name, build_batch, job_label
from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.load import LoadedWorkflow
from comfytui.core.workflows.preflight import model_refs, preflight, preflight_prompt, types_compatible
from comfytui.core.workflows.sources import editor_with_values, info_of, saved_content

FIXTURES = Path(__file__).resolve().parents[1] / "workflow" / "fixtures"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


DEMO = {
    "1": {"class_type": "ComfyTUIProgress", "inputs": {"steps": 4, "delay": 0.0, "fmt": "PNG", "seed": 7}, "_meta": {"title": "Demo sampler"}},
    "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 2, "sigma": 1.0}, "_meta": {"title": "Blur"}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t/demo"}, "_meta": {"title": "Save Image"}},
}


def kinds(errors):
    return sorted((e.node_id, e.kind, e.input_name) for e in errors)


def test_a_valid_prompt_passes(object_info):
    assert preflight(DEMO, object_info) == []
    assert preflight(DEMO, None) == []


def test_the_four_checks_each_name_the_node_and_its_title(object_info):
    prompt = copy.deepcopy(DEMO)
    prompt["9"] = {"class_type": "NoSuchSampler", "inputs": {}, "_meta": {"title": "Mystery"}}
    prompt["4"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}, "_meta": {"title": "Load Checkpoint"}}
    prompt["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}, "_meta": {"title": "Preview"}}
    del prompt["3"]["inputs"]["filename_prefix"]
    prompt["3"]["inputs"]["images"] = ["4", 0]  # MODEL into IMAGE
    prompt["1"]["inputs"]["steps"] = 0
    errors = preflight(prompt, object_info)
    assert kinds(errors) == [
        ("1", "value_smaller_than_min", "steps"),
        ("3", "required_input_missing", "filename_prefix"),
        ("3", "return_type_mismatch", "images"),
        ("4", "missing_model", "ckpt_name"),
        ("9", "missing_node_type", None),
    ]
    text = "\n".join(e.describe() for e in errors)
    assert "node 9 (Mystery): unknown node type 'NoSuchSampler'" in text
    assert "node 4 (Load Checkpoint), input 'ckpt_name': model 'sd15.safetensors' is not installed on the server (checkpoints)" in text
    assert "node 3 (Save Image), input 'images': link of type MODEL from node 4 (Load Checkpoint) cannot feed an input of type IMAGE" in text
    assert "node 3 (Save Image), input 'filename_prefix'" in text


def test_models_are_checked_against_the_servers_files_when_given(object_info):
    prompt = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}}}
    assert kinds(preflight(prompt, object_info, {"checkpoints": ["a.safetensors"]})) == []
    errors = preflight(prompt, object_info, {"checkpoints": ["b.safetensors"]})
    assert kinds(errors) == [("4", "missing_model", "ckpt_name")]
    assert "1 installed: b.safetensors" in errors[0].details
    assert [r.folder for r in model_refs(prompt, object_info)] == ["checkpoints"]


def test_links_to_missing_nodes_and_slots(object_info):
    prompt = copy.deepcopy(DEMO)
    prompt["2"]["inputs"]["image"] = ["77", 0]
    prompt["3"]["inputs"]["images"] = ["1", 5]
    prompt["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}
    assert kinds(preflight(prompt, object_info)) == [("2", "missing_link_target", "image"), ("3", "bad_linked_output", "images")]


def test_only_nodes_feeding_an_output_are_checked_like_the_server_does(object_info):
    prompt = copy.deepcopy(DEMO)
    prompt["5"] = {"class_type": "ImageBlur", "inputs": {"blur_radius": 99}, "_meta": {"title": "Unused"}}
    prompt["6"] = {"class_type": "Nope", "inputs": {}}
    assert kinds(preflight(prompt, object_info)) == [("6", "missing_node_type", None)]


def test_types_compatible_follows_the_server():
    assert types_compatible("IMAGE", "IMAGE")
    assert types_compatible("*", "MODEL")
    assert types_compatible("IMAGE,MASK", "MASK")
    assert types_compatible(["a", "b"], ["a"])  # a combo output into a combo input
    assert not types_compatible("LATENT", "IMAGE")


def test_preflight_prompt_raises_one_error_listing_every_problem(object_info):
    prompt = copy.deepcopy(DEMO)
    prompt["5"] = {"class_type": "Nope", "inputs": {}, "_meta": {"title": "Odd one"}}
    with pytest.raises(InputError) as info:
        preflight_prompt(prompt, object_info, source="x.json")
    assert "x.json: the workflow cannot run on this server" in str(info.value)
    assert "node 5 (Odd one): unknown node type 'Nope'" in str(info.value)


def test_batches_follow_control_after_generate(object_info):
    seeds = lambda prompts: [p["1"]["inputs"]["seed"] for p in prompts]  # noqa: E731
    assert seeds(build_batch(DEMO, 3, "increment", object_info)) == [7, 8, 9]
    assert seeds(build_batch(DEMO, 3, "decrement", object_info)) == [7, 6, 5]
    assert seeds(build_batch(DEMO, 2, "fixed", object_info)) == [7, 7]
    randomized = seeds(build_batch(DEMO, 3, "randomize", object_info, random.Random(1)))
    assert all(0 <= s <= 4294967295 for s in randomized) and len(set(randomized)) == 3
    with pytest.raises(InputError):
        build_batch(DEMO, 0, "fixed", object_info)
    assert batch_name("demo", 1) == "" and batch_name("demo", 3, " mine ") == "mine"
    assert batch_name("demo", 3).startswith("demo ×3 ")
    assert job_label("demo", 1, 3) == "demo #2/3" and job_label("demo", 0, 1) == "demo"


def test_editor_edits_land_in_widgets_values_and_primitives(object_info):
    workflow = load_fixture("acceptance.json")
    before = editor_to_api(workflow, object_info).prompt
    edits = {"8": {"seed": 99, "steps": 3}, "6": {"filename_prefix": "edited/x"}, "4:21": {"width": 24}, "1": {"height": 40}}
    edited, notes = editor_with_values(workflow, edits, object_info)
    assert notes == []
    assert workflow == load_fixture("acceptance.json"), "the input must not be changed"
    after = editor_to_api(edited, object_info).prompt
    assert after["8"]["inputs"]["seed"] == 99 and after["8"]["inputs"]["steps"] == 3
    assert after["6"]["inputs"]["filename_prefix"] == "edited/x"  # through the PrimitiveNode
    assert after["4:21"]["inputs"]["width"] == 24  # inside the subgraph definition
    assert after["1"]["inputs"]["height"] == 40
    node8 = next(n for n in edited["nodes"] if n["id"] == 8)
    assert node8["widgets_values"][4] == "randomize", "the control slot is kept"
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"1", "4:21", "6", "8"}


def test_saved_content_keeps_the_format(object_info):
    workflow = load_fixture("acceptance.json")
    loaded = LoadedWorkflow("a.json", "editor", None, workflow, "file")
    prompt = editor_to_api(workflow, object_info).prompt
    data, _ = saved_content(loaded, prompt, {"8": {"seed": 5}}, object_info)
    assert "nodes" in json.loads(data)
    api = LoadedWorkflow("d.json", "api", DEMO, None, "file")
    data, _ = saved_content(api, {**DEMO, "1": {**DEMO["1"], "inputs": {**DEMO["1"]["inputs"], "seed": 5}}}, {}, object_info)
    assert json.loads(data)["1"]["inputs"]["seed"] == 5


def test_info_of_counts_nodes_and_needs(object_info):
    info = info_of(LoadedWorkflow("a.json", "editor", None, load_fixture("acceptance.json"), "file"))
    assert info.format == "editor" and info.nodes == 10
    assert "ComfyTUIProgress" in info.node_types and "Reroute" not in info.node_types
    assert "ImageScale" in info.node_types  # inside the subgraph
    txt2img = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1.safetensors"}}}
    info = info_of(LoadedWorkflow("t.json", "api", txt2img, None, "file"))
    assert (info.format, info.nodes, info.models) == ("api", 1, ("v1.safetensors",))
