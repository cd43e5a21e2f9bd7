"""comfytui's editor → API conversion against the official frontend's, on feature probes.

The templates (test_frontend_parity.py) rarely mute, bypass, reroute or nest subgraphs in odd ways;
the probes do. tests/workflow/fixtures/probes/ holds one small model-free workflow per feature
(built by probe_workflows.py: mute, bypass, reroute, primitive, subgraph and promoted subgraph
widgets), next to the project's own fixtures (acceptance, sdxlturbo_example, 01_qwen_t2i_subgraphed).
``scripts/frontend-reference --probe FILE...`` had the real frontend 1.32.9, against a real ComfyUI
0.3.75 with the comfytui test nodes, queue each of them into frontend_reference/probes/. A user
queuing any of them from comfytui gets the job the browser would have queued: same node ids,
class_type, inputs (links and values) and _meta.title.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from probe_workflows import PROBES, PROBES_DIR, probe_text
from test_frontend_parity import prompt_differences, random_choice_inputs

from comfytui.core.workflows.convert import editor_to_api

pytestmark = pytest.mark.comfy

REPO = Path(__file__).resolve().parents[2]
PROBE_REFERENCE_DIR = Path(__file__).resolve().parent / "frontend_reference" / "probes"
PROBE_MANIFEST = json.loads((PROBE_REFERENCE_DIR / "manifest.json").read_text(encoding="utf-8"))
PROJECT_FIXTURES = ("acceptance", "sdxlturbo_example", "01_qwen_t2i_subgraphed")


@pytest.fixture(scope="module")
def live_info(comfy_server) -> dict[str, Any]:
    return httpx.get(comfy_server.url + "/object_info", timeout=60).json()


def probe_reference(name: str) -> dict[str, Any]:
    return json.loads((PROBE_REFERENCE_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(PROBE_MANIFEST["converted"]))
def test_probe_converts_like_the_frontend(name: str, live_info: dict[str, Any]) -> None:
    ref = probe_reference(name)
    workflow = json.loads((REPO / ref["workflow"]).read_text(encoding="utf-8"))
    result = editor_to_api(workflow, live_info)
    diffs = prompt_differences(result.prompt, ref["prompt"], random_choice_inputs(workflow))
    assert diffs == [], f"{name}: {len(diffs)} differences from frontend 1.32.9:\n" + "\n".join(diffs)


def test_every_probe_has_a_frontend_reference() -> None:
    """A probe added or edited without rerunning the frontend shows up here, not as a silent gap."""
    assert PROBE_MANIFEST["failed"] == {}
    expected = {f"tests/workflow/fixtures/probes/{name}.json" for name in PROBES}
    expected |= {f"tests/workflow/fixtures/{name}.json" for name in PROJECT_FIXTURES}
    assert set(PROBE_MANIFEST["converted"].values()) == expected
    for name in PROBES:
        on_disk = (PROBES_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert on_disk == probe_text(name), (
            f"{name}.json differs from probe_workflows.py: run `python tests/workflow/probe_workflows.py` "
            f"then `scripts/frontend-reference --probe tests/workflow/fixtures/probes/{name}.json`"
        )
        assert probe_reference(name)["prompt"], f"{name}: empty reference prompt"


@pytest.mark.parametrize("name", sorted(PROBE_MANIFEST["converted"]))
def test_an_edited_value_reaches_the_queued_prompt(name: str, live_info: dict[str, Any]) -> None:
    """The form edits a value of the converted prompt; whatever place the editor graph keeps it
    in (the node, a root PrimitiveNode, a subgraph instance, an inner node behind a direct
    promotion), the edited workflow must queue the new value, as the browser would."""
    from comfytui.core.workflows.sources import editor_with_values

    ref = probe_reference(name)
    workflow = json.loads((REPO / ref["workflow"]).read_text(encoding="utf-8"))
    prompt = editor_to_api(workflow, live_info).prompt
    edits: dict[str, dict[str, Any]] = {}
    for node_id, node in prompt.items():
        for input_name, value in node["inputs"].items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue  # numbers only: a changed combo string would not be one of its options
            edits.setdefault(node_id, {})[input_name] = value + 1
    if not edits:
        pytest.skip(f"{name} queues no numeric widget value")  # not a missing component: nothing to edit
    edited, notes = editor_with_values(workflow, edits, live_info)
    assert notes == []
    after = editor_to_api(edited, live_info).prompt
    lost = [
        f"{node_id}.{input_name}: wanted {value}, queued {after[node_id]['inputs'].get(input_name)!r}"
        for node_id, changes in edits.items()
        for input_name, value in changes.items()
        if after[node_id]["inputs"].get(input_name) != value
    ]
    assert lost == []
