"""Small model-free editor workflows, one per frontend feature, for the frontend's own conversion.

Each probe exercises one rule of the editor → API conversion (mute, bypass, reroute, primitive,
subgraph) with node types the test server has (core image nodes and the comfytui test nodes).
``python tests/workflow/probe_workflows.py`` writes them to tests/workflow/fixtures/probes/; then

    scripts/frontend-reference --probe tests/workflow/fixtures/probes/*.json \
        tests/workflow/fixtures/{acceptance,sdxlturbo_example,01_qwen_t2i_subgraphed}.json

records what the real frontend queues for them, and test_frontend_probes.py holds the converter to that.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wf_graph import Graph  # noqa: E402

PROBES_DIR = Path(__file__).resolve().parent / "fixtures" / "probes"
IMG, MASK, INT, FLOAT, STRING, COMBO = "IMAGE", "MASK", "INT", "FLOAT", "STRING", "COMBO"
SUBGRAPH_BLUR = "5b0e6f4c-1a2b-4c3d-8e9f-000000000a01"
SUBGRAPH_NESTED = "5b0e6f4c-1a2b-4c3d-8e9f-000000000b02"
SUBGRAPH_TWO_WIDGETS = "5b0e6f4c-1a2b-4c3d-8e9f-000000000c03"
SUBGRAPH_MODES = "5b0e6f4c-1a2b-4c3d-8e9f-000000000d04"


def widget_input(name: str, typ: str) -> dict[str, Any]:
    return {"localized_name": name, "name": name, "type": typ, "widget": {"name": name}}


def empty_image(g: Graph, node_id: int, mode: int = 0, width: int = 64) -> None:
    g.node(node_id, "EmptyImage", [width, 48, 1, 255], outputs=[IMG], mode=mode)


def mute() -> dict[str, Any]:
    """Muted nodes (mode 2) vanish; the inputs they fed are left out."""
    g = Graph()
    empty_image(g, 1)
    g.node(2, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], mode=2)
    g.node(3, "ImageBlur", [2, 0.5], inputs=[("image", IMG)], outputs=[IMG])
    g.node(4, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(5, "SaveImage", ["muted"], inputs=[("images", IMG)], mode=2)
    g.node(
        6,
        "Reroute",
        None,
        inputs=[{"name": "", "type": "*"}],
        outputs=[("", IMG)],
        properties={"showOutputText": False, "horizontal": False},
    )
    g.node(7, "ImageSharpen", [1, 1.0, 1.0], inputs=[("image", IMG)], outputs=[IMG])
    g.node(8, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(9, "ImageBatch", [], inputs=[("image1", IMG), ("image2", IMG)], outputs=[IMG])
    g.node(10, "SaveImage", ["probe/mute"], inputs=[("images", IMG)])
    g.node(
        11, "ImageBlur", [4, 2.0], inputs=[("image", IMG)], outputs=[IMG], mode=2, title="muted, no output"
    )
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(3, 0, 4, 0, IMG)
    g.link(1, 0, 5, 0, IMG)
    g.link(2, 0, 6, 0, IMG)
    g.link(6, 0, 7, 0, IMG)
    g.link(7, 0, 8, 0, IMG)
    g.link(1, 0, 9, 0, IMG)
    g.link(2, 0, 9, 1, IMG)
    g.link(9, 0, 10, 0, IMG)
    g.link(1, 0, 11, 0, IMG)
    return g.to_json()


def bypass() -> dict[str, Any]:
    """Bypassed nodes (mode 4) pass a matching-type input through, or nothing when none matches."""
    g = Graph()
    empty_image(g, 1)
    # a bypassed node passing its IMAGE input through, then a chain of two bypassed nodes
    g.node(2, "ImageBlur", [3, 1.5], inputs=[("image", IMG)], outputs=[IMG], mode=4)
    g.node(3, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    g.node(4, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(5, "ImageSharpen", [1, 1.0, 1.0], inputs=[("image", IMG)], outputs=[IMG], mode=4)
    g.node(6, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="after two bypassed")
    g.node(7, "PreviewImage", [], inputs=[("images", IMG)])
    # IMAGE → MASK bypassed: no MASK input to pass through
    g.node(8, "ImageToMask", ["red"], inputs=[("image", IMG)], outputs=[MASK], mode=4)
    g.node(9, "InvertMask", [], inputs=[("mask", MASK)], outputs=[MASK])
    g.node(10, "MaskToImage", [], inputs=[("mask", MASK)], outputs=[IMG])
    g.node(11, "PreviewImage", [], inputs=[("images", IMG)])
    # a bypassed node without inputs
    empty_image(g, 12, mode=4, width=32)
    g.node(13, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="from bypassed source")
    g.node(14, "PreviewImage", [], inputs=[("images", IMG)])
    # two IMAGE inputs, only the second linked: the same-index input is chosen
    g.node(
        15, "ImageBlend", [0.5, "normal"], inputs=[("image1", IMG), ("image2", IMG)], outputs=[IMG], mode=4
    )
    g.node(16, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="after blend")
    g.node(17, "PreviewImage", [], inputs=[("images", IMG)])
    # a bypassed output node, and a bypassed node seen through a Reroute
    g.node(18, "PreviewImage", [], inputs=[("images", IMG)], mode=4)
    g.node(
        19,
        "Reroute",
        None,
        inputs=[{"name": "", "type": "*"}],
        outputs=[("", IMG)],
        properties={"showOutputText": False, "horizontal": False},
    )
    g.node(20, "SaveImage", ["probe/bypass"], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(3, 0, 4, 0, IMG)
    g.link(2, 0, 5, 0, IMG)
    g.link(5, 0, 6, 0, IMG)
    g.link(6, 0, 7, 0, IMG)
    g.link(1, 0, 8, 0, IMG)
    g.link(8, 0, 9, 0, MASK)
    g.link(9, 0, 10, 0, MASK)
    g.link(10, 0, 11, 0, IMG)
    g.link(12, 0, 13, 0, IMG)
    g.link(13, 0, 14, 0, IMG)
    g.link(1, 0, 15, 1, IMG)
    g.link(15, 0, 16, 0, IMG)
    g.link(16, 0, 17, 0, IMG)
    g.link(1, 0, 18, 0, IMG)
    g.link(2, 0, 19, 0, IMG)
    g.link(19, 0, 20, 0, IMG)
    return g.to_json()


def reroute() -> dict[str, Any]:
    """Reroute nodes are followed (chains, fan-out, a dangling one, a native link reroute)."""
    g = Graph()
    empty_image(g, 1)
    props = {"showOutputText": False, "horizontal": False}
    for node_id in (2, 3, 4, 7, 10):
        g.node(
            node_id,
            "Reroute",
            None,
            inputs=[{"name": "", "type": "*"}],
            outputs=[("", IMG)],
            properties=props,
        )
    g.node(5, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="after three reroutes")
    g.node(6, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(8, "ImageBlur", [2, 1.0], inputs=[("image", IMG)], outputs=[IMG], title="from an empty reroute")
    g.node(9, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(11, "ImageSharpen", [2, 0.5, 1.0], inputs=[("image", IMG)], outputs=[IMG])
    g.node(12, "SaveImage", ["probe/reroute"], inputs=[("images", IMG)])
    g.node(13, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(14, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="through a native reroute")
    g.node(15, "PreviewImage", [], inputs=[("images", IMG)])
    # a backend INT output routed into a widget input
    g.node(16, "PrimitiveInt", [96, "fixed"], outputs=[INT])
    g.node(17, "Reroute", None, inputs=[{"name": "", "type": "*"}], outputs=[("", INT)], properties=props)
    g.node(
        18,
        "EmptyImage",
        [64, 40, 1, 0],
        inputs=[widget_input("width", INT)],
        outputs=[IMG],
        title="width via reroute",
    )
    g.node(19, "PreviewImage", [], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(3, 0, 4, 0, IMG)
    g.link(4, 0, 5, 0, IMG)
    g.link(5, 0, 6, 0, IMG)
    g.link(7, 0, 8, 0, IMG)
    g.link(8, 0, 9, 0, IMG)
    g.link(1, 0, 10, 0, IMG)
    g.link(3, 0, 11, 0, IMG)
    g.link(3, 0, 12, 0, IMG)
    g.link(11, 0, 13, 0, IMG)
    native = g.link(1, 0, 14, 0, IMG)
    g.link(14, 0, 15, 0, IMG)
    g.link(16, 0, 17, 0, INT)
    g.link(17, 0, 18, 0, INT)
    g.link(18, 0, 19, 0, IMG)
    g.extra["reroutes"] = [{"id": 1, "pos": [400, 600], "linkIds": [native]}]
    g.extra["linkExtensions"] = [{"id": native, "parentId": 1}]
    return g.to_json()


def add_primitive(g: Graph, node_id: int, typ: str, target: str, values: list[Any], **extra: Any) -> None:
    node = g.node(node_id, "PrimitiveNode", values, outputs=[], **extra)
    node["properties"] = {"Run widget replace on values": False}
    node["outputs"] = [{"name": typ, "type": typ, "widget": {"name": target}, "links": []}]


def primitives() -> dict[str, Any]:
    """PrimitiveNodes copy their value into the widget inputs they feed."""
    g = Graph()
    # a seed primitive with control_after_generate, overriding the node's own saved seed
    add_primitive(g, 1, INT, "seed", [123, "randomize"], title="seed")
    g.node(
        2,
        "ComfyTUIProgress",
        [2, 0.0, "PNG", 7, "fixed"],
        inputs=[
            {"localized_name": "image", "name": "image", "shape": 7, "type": IMG},
            widget_input("seed", INT),
        ],
        outputs=[("image", IMG)],
    )
    g.node(3, "PreviewImage", [], inputs=[("images", IMG)])
    # one primitive feeding two nodes
    add_primitive(g, 4, STRING, "filename_prefix", ["probe/shared"])
    g.node(5, "SaveImage", ["ComfyUI"], inputs=[("images", IMG), widget_input("filename_prefix", STRING)])
    g.node(
        6,
        "SaveImage",
        ["other"],
        inputs=[("images", IMG), widget_input("filename_prefix", STRING)],
        title="second save",
    )
    # a combo primitive and a float primitive
    add_primitive(g, 7, COMBO, "upscale_method", ["bicubic", "fixed", ""])
    g.node(
        8,
        "ImageScale",
        ["nearest-exact", 32, 32, "disabled"],
        inputs=[("image", IMG), widget_input("upscale_method", COMBO)],
        outputs=[IMG],
    )
    g.node(9, "PreviewImage", [], inputs=[("images", IMG)])
    add_primitive(g, 10, FLOAT, "sigma", [2.5, "fixed"])
    g.node(11, "ImageBlur", [1, 1.0], inputs=[("image", IMG), widget_input("sigma", FLOAT)], outputs=[IMG])
    g.node(12, "PreviewImage", [], inputs=[("images", IMG)])
    # an unlinked primitive, and a muted primitive feeding a widget
    unlinked = g.node(13, "PrimitiveNode", [5, "fixed"], properties={"Run widget replace on values": False})
    unlinked["outputs"] = [{"name": "connect to widget input", "type": "*", "links": []}]
    add_primitive(g, 14, INT, "width", [40, "fixed"], mode=2, title="muted width")
    g.node(15, "EmptyImage", [24, 24, 1, 0], inputs=[widget_input("width", INT)], outputs=[IMG])
    g.node(16, "PreviewImage", [], inputs=[("images", IMG)])
    g.link(1, 0, 2, 1, INT)
    g.link(2, 0, 3, 0, IMG)
    g.link(4, 0, 5, 1, STRING)
    g.link(4, 0, 6, 1, STRING)
    g.link(2, 0, 5, 0, IMG)
    g.link(2, 0, 6, 0, IMG)
    g.link(7, 0, 8, 1, COMBO)
    g.link(2, 0, 8, 0, IMG)
    g.link(8, 0, 9, 0, IMG)
    g.link(10, 0, 11, 1, FLOAT)
    g.link(2, 0, 11, 0, IMG)
    g.link(11, 0, 12, 0, IMG)
    g.link(14, 0, 15, 0, INT)
    g.link(15, 0, 16, 0, IMG)
    return g.to_json()


def _blur_subgraph() -> dict[str, Any]:
    """image → ImageBlur (blur_radius from a subgraph input, sigma promoted directly) → ImageInvert."""
    sg = Graph(link_format="dict")
    sg.node(
        101, "ImageBlur", [1, 1.0], inputs=[("image", IMG), widget_input("blur_radius", INT)], outputs=[IMG]
    )
    sg.node(102, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    sg.link(-10, 0, 101, 0, IMG)
    sg.link(-10, 1, 101, 1, INT)
    sg.link(101, 0, 102, 0, IMG)
    sg.link(102, 0, -20, 0, IMG)
    data = sg.subgraph_json(
        SUBGRAPH_BLUR, "Blur stage", [("image", IMG), ("blur_radius", INT)], [("IMAGE", IMG)]
    )
    data["state"].update(lastNodeId=102, lastLinkId=4)
    return _uuid_slots(data, "a")


def _nested_subgraph() -> dict[str, Any]:
    """image → [Blur stage] (its blur_radius from this subgraph's ``radius``) → ImageSharpen."""
    sg = Graph(link_format="dict")
    sg.node(
        201,
        SUBGRAPH_BLUR,
        [4, 1.0],
        inputs=[("image", IMG), widget_input("blur_radius", INT)],
        outputs=[IMG],
        properties={"proxyWidgets": [["-1", "blur_radius"], ["101", "sigma"]]},
        title="inner blur stage",
    )
    sg.node(202, "ImageSharpen", [1, 1.0, 1.0], inputs=[("image", IMG)], outputs=[IMG])
    sg.link(-10, 0, 201, 0, IMG)
    sg.link(-10, 1, 201, 1, INT)
    sg.link(201, 0, 202, 0, IMG)
    sg.link(202, 0, -20, 0, IMG)
    data = sg.subgraph_json(
        SUBGRAPH_NESTED, "Nested stage", [("image", IMG), ("radius", INT)], [("IMAGE", IMG)]
    )
    data["state"].update(lastNodeId=202, lastLinkId=4)
    return _uuid_slots(data, "b")


def _uuid_slots(data: dict[str, Any], tag: str) -> dict[str, Any]:
    for kind in ("inputs", "outputs"):
        for index, slot in enumerate(data[kind]):
            slot["id"] = f"7d3c2b1a-0000-4000-8000-{tag}{kind[0]}{index:010d}"
    return data


def subgraphs() -> dict[str, Any]:
    """Subgraph instances whose promoted widget values differ from the inner nodes' own."""
    g = Graph()
    empty_image(g, 1)
    blur_props = {"proxyWidgets": [["-1", "blur_radius"], ["101", "sigma"]]}
    g.node(2, SUBGRAPH_BLUR, [9, 0.5], inputs=[("image", IMG)], outputs=[IMG], properties=blur_props)
    g.node(3, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(
        4,
        SUBGRAPH_BLUR,
        [3, 2.0],
        inputs=[("image", IMG)],
        outputs=[IMG],
        properties=blur_props,
        title="second instance",
    )
    g.node(5, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(
        6,
        SUBGRAPH_NESTED,
        [11],
        inputs=[("image", IMG)],
        outputs=[IMG],
        properties={"proxyWidgets": [["-1", "radius"]]},
    )
    g.node(7, "SaveImage", ["probe/nested"], inputs=[("images", IMG)])
    g.node(
        8,
        SUBGRAPH_BLUR,
        [6, 1.5],
        inputs=[("image", IMG)],
        outputs=[IMG],
        properties=blur_props,
        mode=2,
        title="muted instance",
    )
    g.node(9, "PreviewImage", [], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(1, 0, 4, 0, IMG)
    g.link(4, 0, 5, 0, IMG)
    g.link(1, 0, 6, 0, IMG)
    g.link(6, 0, 7, 0, IMG)
    g.link(1, 0, 8, 0, IMG)
    g.link(8, 0, 9, 0, IMG)
    g.subgraphs = [_blur_subgraph(), _nested_subgraph()]
    return g.to_json()


def _two_widget_subgraph() -> dict[str, Any]:
    """image → ImageBlur with sigma and blur_radius (in that input order) from subgraph inputs."""
    sg = Graph(link_format="dict")
    sg.node(
        301,
        "ImageBlur",
        [1, 1.0],
        inputs=[("image", IMG), widget_input("blur_radius", INT), widget_input("sigma", FLOAT)],
        outputs=[IMG],
    )
    sg.link(-10, 0, 301, 0, IMG)
    sg.link(-10, 1, 301, 2, FLOAT)
    sg.link(-10, 2, 301, 1, INT)
    sg.link(301, 0, -20, 0, IMG)
    data = sg.subgraph_json(
        SUBGRAPH_TWO_WIDGETS,
        "Two widgets",
        [("image", IMG), ("sigma", FLOAT), ("blur_radius", INT)],
        [("IMAGE", IMG)],
    )
    data["state"].update(lastNodeId=301, lastLinkId=4)
    return _uuid_slots(data, "c")


def subgraph_widgets() -> dict[str, Any]:
    """How an instance's widgets_values reach promoted widgets: order, direct proxies, outer links."""
    g = Graph()
    empty_image(g, 1)
    two = [("image", IMG)]
    # proxy order differs from the subgraph's input order
    g.node(
        2,
        SUBGRAPH_TWO_WIDGETS,
        [5, 3.5],
        inputs=two,
        outputs=[IMG],
        properties={"proxyWidgets": [["-1", "blur_radius"], ["-1", "sigma"]]},
        title="proxy order",
    )
    # no proxyWidgets property (saved before it existed)
    g.node(3, SUBGRAPH_TWO_WIDGETS, [2.5, 7], inputs=two, outputs=[IMG], title="no proxies")
    # a directly promoted widget listed first
    g.node(
        4,
        SUBGRAPH_BLUR,
        [0.5, 9],
        inputs=[("image", IMG)],
        outputs=[IMG],
        properties={"proxyWidgets": [["101", "sigma"], ["-1", "blur_radius"]]},
        title="direct first",
    )
    # the promoted widget's input linked from outside: a backend INT and a PrimitiveNode
    g.node(5, "PrimitiveInt", [13, "fixed"], outputs=[INT])
    g.node(
        6,
        SUBGRAPH_BLUR,
        [8, 1.0],
        inputs=[("image", IMG), widget_input("blur_radius", INT)],
        outputs=[IMG],
        properties={"proxyWidgets": [["-1", "blur_radius"], ["101", "sigma"]]},
        title="radius linked",
    )
    add_primitive(g, 7, INT, "blur_radius", [17, "fixed"], title="radius primitive")
    g.node(
        8,
        SUBGRAPH_BLUR,
        [8, 1.0],
        inputs=[("image", IMG), widget_input("blur_radius", INT)],
        outputs=[IMG],
        properties={"proxyWidgets": [["-1", "blur_radius"], ["101", "sigma"]]},
        title="radius from primitive",
    )
    for index, instance in enumerate((2, 3, 4, 6, 8)):
        g.node(20 + index, "PreviewImage", [], inputs=[("images", IMG)])
        g.link(1, 0, instance, 0, IMG)
        g.link(instance, 0, 20 + index, 0, IMG)
    g.link(5, 0, 6, 1, INT)
    g.link(7, 0, 8, 1, INT)
    g.subgraphs = [_blur_subgraph(), _two_widget_subgraph()]
    return g.to_json()


def _modes_subgraph() -> dict[str, Any]:
    """Inside: a Reroute, a bypassed and a muted node, and a PrimitiveNode feeding a SaveImage."""
    sg = Graph(link_format="dict")
    sg.node(
        401,
        "Reroute",
        None,
        inputs=[{"name": "", "type": "*"}],
        outputs=[("", IMG)],
        properties={"showOutputText": False, "horizontal": False},
    )
    sg.node(402, "ImageBlur", [5, 2.0], inputs=[("image", IMG)], outputs=[IMG], mode=4)
    sg.node(403, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    sg.node(404, "ImageSharpen", [1, 1.0, 1.0], inputs=[("image", IMG)], outputs=[IMG], mode=2)
    add_primitive(sg, 405, STRING, "filename_prefix", ["probe/inside"])
    sg.node(406, "SaveImage", ["ComfyUI"], inputs=[("images", IMG), widget_input("filename_prefix", STRING)])
    sg.link(-10, 0, 401, 0, IMG)
    sg.link(401, 0, 402, 0, IMG)
    sg.link(402, 0, 403, 0, IMG)
    sg.link(-10, 0, 404, 0, IMG)
    sg.link(403, 0, -20, 0, IMG)
    sg.link(404, 0, -20, 1, IMG)
    sg.link(405, 0, 406, 1, STRING)
    sg.link(403, 0, 406, 0, IMG)
    data = sg.subgraph_json(
        SUBGRAPH_MODES, "Modes inside", [("image", IMG)], [("inverted", IMG), ("muted", IMG)]
    )
    data["state"].update(lastNodeId=406, lastLinkId=8)
    return _uuid_slots(data, "d")


def subgraph_modes() -> dict[str, Any]:
    """Mute, bypass, reroutes and primitives inside a subgraph, and a bypassed subgraph instance."""
    g = Graph()
    empty_image(g, 1)
    outs = [("inverted", IMG), ("muted", IMG)]
    g.node(2, SUBGRAPH_MODES, [], inputs=[("image", IMG)], outputs=outs)
    g.node(3, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(4, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="from the muted inner node")
    g.node(5, "PreviewImage", [], inputs=[("images", IMG)])
    g.node(6, SUBGRAPH_MODES, [], inputs=[("image", IMG)], outputs=outs, mode=4, title="bypassed instance")
    g.node(7, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], title="after the bypassed instance")
    g.node(8, "PreviewImage", [], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(2, 1, 4, 0, IMG)
    g.link(4, 0, 5, 0, IMG)
    g.link(1, 0, 6, 0, IMG)
    g.link(6, 0, 7, 0, IMG)
    g.link(7, 0, 8, 0, IMG)
    g.subgraphs = [_modes_subgraph()]
    return g.to_json()


PROBES = {
    "probe_mute": mute,
    "probe_bypass": bypass,
    "probe_reroute": reroute,
    "probe_primitive": primitives,
    "probe_subgraph": subgraphs,
    "probe_subgraph_widgets": subgraph_widgets,
    "probe_subgraph_modes": subgraph_modes,
}


def probe_text(name: str) -> str:
    return json.dumps(PROBES[name](), indent=1) + "\n"


def main() -> None:
    PROBES_DIR.mkdir(parents=True, exist_ok=True)
    for name in PROBES:
        (PROBES_DIR / f"{name}.json").write_text(probe_text(name), encoding="utf-8")
        print(PROBES_DIR / f"{name}.json")


if __name__ == "__main__":
    main()
