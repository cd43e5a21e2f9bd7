"""A tiny builder of editor-format workflows written with the 1.32.9 frontend's conventions."""

from __future__ import annotations

import copy
from typing import Any


class Graph:
    """Nodes and links of one graph level; ``to_json()`` gives the saved workflow."""

    def __init__(self, link_format: str = "list") -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[Any] = []
        self.link_format = link_format
        self.subgraphs: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self._next_link = 1

    def node(
        self,
        node_id: int,
        node_type: str,
        widgets: Any = None,
        inputs: list[Any] = (),  # type: ignore[assignment]
        outputs: list[Any] = (),  # type: ignore[assignment]
        mode: int = 0,
        title: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        slots = []
        for spec in inputs:
            if isinstance(spec, dict):
                slots.append({"link": None, **spec})
            else:
                name, typ = spec
                slots.append({"localized_name": name, "name": name, "type": typ, "link": None})
        outs = []
        for spec in outputs:
            name, typ = spec if isinstance(spec, tuple) else (spec, spec)
            outs.append({"localized_name": name, "name": name, "type": typ, "links": []})
        node: dict[str, Any] = {
            "id": node_id,
            "type": node_type,
            "pos": [0, 0],
            "size": [270, 100],
            "flags": {},
            "order": len(self.nodes),
            "mode": mode,
            "inputs": slots,
            "outputs": outs,
            "properties": {"Node name for S&R": node_type},
        }
        if widgets is not None:
            node["widgets_values"] = widgets
        if title is not None:
            node["title"] = title
        node.update(extra)
        self.nodes.append(node)
        return node

    def get(self, node_id: int) -> dict[str, Any]:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin: int, origin_slot: int, target: int, target_slot: int, typ: str = "*") -> int:
        lid = self._next_link
        self._next_link += 1
        if self.link_format == "list":
            self.links.append([lid, origin, origin_slot, target, target_slot, typ])
        else:
            self.links.append(
                {
                    "id": lid,
                    "origin_id": origin,
                    "origin_slot": origin_slot,
                    "target_id": target,
                    "target_slot": target_slot,
                    "type": typ,
                }
            )
        if target not in (-20,):
            self.get(target)["inputs"][target_slot]["link"] = lid
        if origin not in (-10,):
            outs = self.get(origin)["outputs"]
            while len(outs) <= origin_slot:
                outs.append({"name": typ, "type": typ, "links": []})
            outs[origin_slot]["links"].append(lid)
        return lid

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": "00000000-0000-4000-8000-000000000000",
            "revision": 0,
            "last_node_id": max((n["id"] for n in self.nodes), default=0),
            "last_link_id": self._next_link - 1,
            "nodes": copy.deepcopy(self.nodes),
            "links": copy.deepcopy(self.links),
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.32.9", **self.extra},
            "version": 0.4,
        }
        if self.subgraphs:
            data["definitions"] = {"subgraphs": copy.deepcopy(self.subgraphs)}
        return data

    def subgraph_json(
        self, sg_id: str, name: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]
    ):
        """This graph as a subgraph definition (links to/from -10/-20 must be added with ``link``)."""
        sg_links = [
            lk
            if isinstance(lk, dict)
            else dict(
                zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), lk, strict=True)
            )
            for lk in self.links
        ]
        sg_inputs = []
        for index, (iname, ityp) in enumerate(inputs):
            ids = [lk["id"] for lk in sg_links if lk["origin_id"] == -10 and lk["origin_slot"] == index]
            sg_inputs.append({"id": f"in-{index}", "name": iname, "type": ityp, "linkIds": ids})
        sg_outputs = []
        for index, (oname, otyp) in enumerate(outputs):
            ids = [lk["id"] for lk in sg_links if lk["target_id"] == -20 and lk["target_slot"] == index]
            sg_outputs.append({"id": f"out-{index}", "name": oname, "type": otyp, "linkIds": ids})
        return {
            "id": sg_id,
            "version": 1,
            "state": {"lastGroupId": 0, "lastNodeId": 0, "lastLinkId": 0, "lastRerouteId": 0},
            "revision": 0,
            "config": {},
            "name": name,
            "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
            "outputNode": {"id": -20, "bounding": [0, 0, 120, 60]},
            "inputs": sg_inputs,
            "outputs": sg_outputs,
            "widgets": [],
            "nodes": copy.deepcopy(self.nodes),
            "groups": [],
            "links": sg_links,
            "extra": {},
        }
