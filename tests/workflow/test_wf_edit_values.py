"""Where a form edit lands in an editor workflow with subgraphs (editor_with_values).

The probes (tests/workflow/fixtures/probes/) were queued by the real frontend 1.32.9, so the places
asserted here are the ones the browser reads; test_frontend_probes.py checks every numeric value
of every probe round-trips, these pin down where each kind of value is kept.
"""

from __future__ import annotations

from typing import Any

from test_wf_convert import legacy_group_graph

from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.sources import editor_with_values
from conftest import load_fixture

NESTED = "5b0e6f4c-1a2b-4c3d-8e9f-000000000b02"


def _node(graph: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in graph["nodes"] if n["id"] == node_id)


def _definition(workflow: dict[str, Any], sg_id: str) -> dict[str, Any]:
    return next(s for s in workflow["definitions"]["subgraphs"] if s["id"] == sg_id)


def test_a_value_promoted_through_nested_subgraphs_is_written_on_the_outer_instance(object_info):
    # 6 holds 'radius'; its inner instance 201 passes it on as 'blur_radius' to ImageBlur 101
    workflow = load_fixture("probes/probe_subgraph.json")
    before = editor_to_api(workflow, object_info).prompt
    edited, notes = editor_with_values(workflow, {"6:201:101": {"blur_radius": 12}}, object_info)
    assert notes == []
    assert _node(edited, 6)["widgets_values"] == [12]
    assert _definition(edited, NESTED) == _definition(workflow, NESTED), "the shared definition is untouched"
    after = editor_to_api(edited, object_info).prompt
    assert after["6:201:101"]["inputs"]["blur_radius"] == 12
    assert {k for k in after if after[k] != before[k]} == {"6:201:101"}, "other instances keep their values"


def test_a_root_primitive_feeding_a_subgraph_input_takes_the_edit(object_info):
    workflow = load_fixture("probes/probe_subgraph_widgets.json")
    before = editor_to_api(workflow, object_info).prompt
    edited, notes = editor_with_values(workflow, {"8:101": {"blur_radius": 18}}, object_info)
    assert notes == []
    assert _node(edited, 7)["widgets_values"][0] == 18  # the PrimitiveNode linked to instance 8
    assert _node(edited, 8)["widgets_values"] == _node(workflow, 8)["widgets_values"]
    after = editor_to_api(edited, object_info).prompt
    assert after["8:101"]["inputs"]["blur_radius"] == 18
    assert {k for k in after if after[k] != before[k]} == {"8:101"}


def test_a_directly_promoted_widget_is_shared_by_the_instances_that_show_it(object_info):
    # 2 promotes 101's own 'sigma' ([101, 'sigma']): the frontend queues the inner node's
    # value, which every instance of the definition reads, so the edit shows in all of them.
    workflow = load_fixture("probes/probe_subgraph.json")
    before = editor_to_api(workflow, object_info).prompt
    edited, notes = editor_with_values(workflow, {"2:101": {"sigma": 3.25}}, object_info)
    assert notes == []
    assert _node(edited, 2)["widgets_values"] == _node(workflow, 2)["widgets_values"]
    after = editor_to_api(edited, object_info).prompt
    assert after["2:101"]["inputs"]["sigma"] == 3.25
    # 8 promotes the same widget; nested 201 too, so instance 6 reads it through 201
    assert {k for k in after if after[k] != before[k]} == {"2:101", "4:101", "8:101", "6:201:101"}


def test_a_legacy_group_node_widget_is_written_on_the_group_instance(object_info):
    workflow = legacy_group_graph().to_json()  # instance 4 keeps its inner nodes' widget values
    edited, notes = editor_with_values(workflow, {"4:0": {"blur_radius": 7, "sigma": 3.5}}, object_info)
    assert notes == []
    assert _node(edited, 4)["widgets_values"] == [7, 3.5]
    assert editor_to_api(edited, object_info).prompt["4:0"]["inputs"]["blur_radius"] == 7
