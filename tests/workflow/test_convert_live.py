"""Converted editor workflows against the real CPU ComfyUI 0.3.75: accepted, and run when model-free."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from test_wf_convert import legacy_group_graph, subgraph_workflow
from wf_graph import Graph

from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.params import apply_overrides, apply_seed_mode, validate_params
from conftest import load_fixture
from harness.comfy import unique_seed

pytestmark = pytest.mark.comfy

IMG = "IMAGE"


@pytest.fixture(scope="module")
def live_info(comfy_server) -> dict[str, Any]:
    return httpx.get(comfy_server.url + "/object_info", timeout=30).json()


def queue(url: str, prompt: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + "/prompt", json={"prompt": prompt, "client_id": "comfytui-wf-tests"}, timeout=30)


def wait_done(url: str, prompt_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = httpx.get(f"{url}/history/{prompt_id}", timeout=10).json().get(prompt_id)
        if (
            entry
            and entry.get("status", {}).get("completed") is not None
            and entry["status"].get("status_str")
        ):
            return entry
        time.sleep(0.1)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout} s")


def run_ok(comfy_server, prompt: dict[str, Any]) -> dict[str, Any]:
    resp = queue(comfy_server.url, prompt)
    assert resp.status_code == 200, resp.text
    assert resp.json()["node_errors"] == {}
    entry = wait_done(comfy_server.url, resp.json()["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def test_acceptance_workflow_is_accepted_and_runs(comfy_server, live_info):
    result = editor_to_api(load_fixture("acceptance.json"), live_info)
    assert result.warnings == []
    prompt = apply_overrides(result.prompt, [f"8.seed={unique_seed()}", f"1.color={unique_seed() % 2**24}"])
    assert validate_params(prompt, live_info) == []
    entry = run_ok(comfy_server, prompt)
    assert set(entry["outputs"]) == {"6", "9"}
    saved = entry["outputs"]["6"]["images"][0]
    assert saved["subfolder"] == "comfytui" and saved["filename"].startswith("accept")
    assert (comfy_server.output_dir / saved["subfolder"] / saved["filename"]).is_file()


def test_seed_modes_give_distinct_runnable_jobs(comfy_server, live_info):
    base = editor_to_api(load_fixture("acceptance.json"), live_info).prompt
    base = apply_overrides(base, [f"8.seed={unique_seed()}"])
    seeds = set()
    for index in range(2):
        job = apply_seed_mode(base, "increment", index, live_info)
        seeds.add(job["8"]["inputs"]["seed"])
        resp = queue(comfy_server.url, job)
        assert resp.status_code == 200, resp.text
    assert len(seeds) == 2


def test_subgraph_and_bypass_variants_run(comfy_server, live_info):
    for mode in (0, 2, 4):
        prompt = editor_to_api(subgraph_workflow(instance_mode=mode), live_info).prompt
        prompt = apply_overrides(prompt, [f"1.color={unique_seed() % 2**24}"])
        entry = run_ok(comfy_server, prompt)
        assert set(entry["outputs"]) == {"6", "7"}


def test_primitive_reroute_and_nested_subgraph_run(comfy_server, live_info):
    g = Graph()
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    g.node(2, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)])
    g.node(3, "PrimitiveNode", [16, "fixed"], outputs=[("INT", "INT")])
    g.get(3)["outputs"][0]["widget"] = {"name": "width"}
    g.node(
        4,
        "ImageScale",
        ["bilinear", 512, 12, "disabled"],
        outputs=[IMG],
        inputs=[("image", IMG), {"name": "width", "type": "INT", "widget": {"name": "width"}}],
    )
    g.node(
        5,
        "ComfyTUIProgress",
        [1, 0.0, "JPEG", unique_seed(), "fixed"],
        inputs=[("image", IMG)],
        outputs=[IMG],
    )
    g.node(6, "PreviewImage", [], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 4, 0, IMG)
    g.link(3, 0, 4, 1, "INT")
    g.link(4, 0, 5, 0, IMG)
    g.link(5, 0, 6, 0, IMG)
    prompt = editor_to_api(g.to_json(), live_info).prompt
    assert prompt["4"]["inputs"]["width"] == 16
    entry = run_ok(comfy_server, prompt)
    assert set(entry["outputs"]) == {"6"}


def test_legacy_group_node_runs(comfy_server, live_info):
    g = legacy_group_graph()
    g.get(1)["widgets_values"] = [8, 8, 1, unique_seed() % 2**24]
    result = editor_to_api(g.to_json(), live_info)
    entry = run_ok(comfy_server, result.prompt)
    assert set(entry["outputs"]) == {"6"}


@pytest.mark.parametrize("name", ["sdxlturbo_example.json", "01_qwen_t2i_subgraphed.json"])
def test_real_templates_fail_only_on_missing_models(comfy_server, live_info, name):
    """No model files exist here: every refusal must be a model-file combo, nothing structural."""
    prompt = editor_to_api(load_fixture(name), live_info).prompt
    resp = queue(comfy_server.url, prompt)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    for node_id, info in body["node_errors"].items():
        for err in info["errors"]:
            assert err["type"] == "value_not_in_list", (node_id, err)
            assert err["extra_info"]["input_name"].endswith("_name"), (node_id, err)
