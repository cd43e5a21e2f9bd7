"""editor_to_api against the real /object_info (captured), rule by rule (COMFY_API §4.7, §4.9)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from wf_graph import Graph

from comfytui.core.errors import InputError
from comfytui.core.workflows.convert import editor_to_api, process_dynamic_prompt
from conftest import load_fixture

IMG = "IMAGE"


def convert(graph: Graph | dict[str, Any], object_info: dict[str, Any]):
    data = graph.to_json() if isinstance(graph, Graph) else graph
    return editor_to_api(data, object_info)


def image_chain(mode_blur: int = 0, link_format: str = "list") -> Graph:
    g = Graph(link_format)
    g.node(1, "EmptyImage", [64, 64, 1, 0], outputs=[IMG])
    g.node(2, "ImageBlur", [3, 1.5], inputs=[("image", IMG)], outputs=[IMG], mode=mode_blur)
    g.node(3, "SaveImage", ["out"], inputs=[("images", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    return g


# ---------------------------------------------------------------------------------------------
# shape, titles, acceptance fixture


def test_acceptance_workflow_converts_like_the_frontend(acceptance_workflow, object_info):
    result = editor_to_api(acceptance_workflow, object_info)
    assert result.warnings == []
    assert result.prompt == {
        "1": {
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 16711680},
            "class_type": "EmptyImage",
            "_meta": {"title": "EmptyImage"},
        },
        # Reroute 2 → bypassed ImageBlur 3 → subgraph input: ends at EmptyImage
        "4:20": {
            "inputs": {"image": ["1", 0]},
            "class_type": "ImageInvert",
            "_meta": {"title": "Invert Image"},
        },
        # width comes from the instance's promoted widget (40), not the inner widget (512)
        "4:21": {
            "inputs": {
                "upscale_method": "nearest-exact",
                "width": 40,
                "height": 32,
                "crop": "disabled",
                "image": ["4:20", 0],
            },
            "class_type": "ImageScale",
            "_meta": {"title": "Upscale Image"},
        },
        # PrimitiveNode value copied, subgraph output resolved to the inner origin
        "6": {
            "inputs": {"filename_prefix": "comfytui/accept", "images": ["4:21", 0]},
            "class_type": "SaveImage",
            "_meta": {"title": "Save Image"},
        },
        # the optional image came from the muted ImageInvert 7: deleted; control slot dropped
        "8": {
            "inputs": {"steps": 2, "delay": 0.0, "fmt": "PNG", "seed": 123},
            "class_type": "ComfyTUIProgress",
            "_meta": {"title": "ComfyTUI Progress (test)"},
        },
        "9": {
            "inputs": {"images": ["8", 0]},
            "class_type": "PreviewImage",
            "_meta": {"title": "Preview Image"},
        },
    }


def test_ids_are_strings_and_links_are_id_slot_pairs(object_info):
    prompt = convert(image_chain(), object_info).prompt
    assert list(prompt) == ["1", "2", "3"]
    assert prompt["2"]["inputs"]["image"] == ["1", 0]
    assert prompt["3"]["inputs"] == {"filename_prefix": "out", "images": ["2", 0]}


def test_object_links_encoding_gives_the_same_prompt(object_info):
    assert (
        convert(image_chain(link_format="object"), object_info).prompt
        == convert(image_chain(), object_info).prompt
    )


def test_title_from_node_then_display_name_then_class(object_info):
    g = image_chain()
    g.get(1)["title"] = "My source"
    prompt = convert(g, object_info).prompt
    assert prompt["1"]["_meta"]["title"] == "My source"
    assert prompt["3"]["_meta"]["title"] == "Save Image"  # display_name
    assert prompt["2"]["_meta"]["title"] == "ImageBlur"  # display_name is null → class name


def test_locale_title_overrides(object_info):
    g = Graph()
    g.node(1, "PrimitiveString", ["hi"], outputs=["STRING"])
    g.node(2, "PreviewAny", [], inputs=[("source", "*")])
    g.link(1, 0, 2, 0, "STRING")
    prompt = convert(g, object_info).prompt
    assert prompt["2"] == {
        "inputs": {"preview": "", "source": ["1", 0]},
        "class_type": "PreviewAny",
        "_meta": {"title": "Preview Any"},
    }


def test_disconnected_nodes_are_still_emitted(object_info):
    g = image_chain()
    g.node(9, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    assert "9" in convert(g, object_info).prompt


def test_modes_0_1_3_are_emitted(object_info):
    for mode in (0, 1, 3):
        g = image_chain()
        g.get(2)["mode"] = mode
        assert "2" in convert(g, object_info).prompt


# ---------------------------------------------------------------------------------------------
# widgets


def test_ksampler_seed_control_slot_and_sampler_fix(object_info):
    g = Graph()
    g.node(
        3,
        "KSampler",
        [156680208700286, "randomize", 20, 8, "sample_euler", "normal", 1],
        inputs=[
            ("model", "MODEL"),
            ("positive", "CONDITIONING"),
            ("negative", "CONDITIONING"),
            ("latent_image", "LATENT"),
        ],
    )
    inputs = convert(g, object_info).prompt["3"]["inputs"]
    assert inputs == {
        "seed": 156680208700286,
        "steps": 20,
        "cfg": 8,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1,
    }


def test_sampler_fix_only_for_ksampler_types(object_info):
    g = Graph()
    g.node(1, "KSamplerSelect", ["sample_euler"], outputs=["SAMPLER"])
    assert convert(g, object_info).prompt["1"]["inputs"]["sampler_name"] == "sample_euler"


def test_noise_seed_control_slot_in_a_real_template(object_info):
    prompt = convert(load_fixture("sdxlturbo_example.json"), object_info).prompt
    assert prompt["13"]["inputs"] == {
        "add_noise": True,
        "noise_seed": 0,
        "cfg": 1,
        "model": ["20", 0],
        "positive": ["6", 0],
        "negative": ["7", 0],
        "sampler": ["14", 0],
        "sigmas": ["22", 0],
        "latent_image": ["5", 0],
    }
    assert "28" not in prompt  # MarkdownNote
    assert prompt["27"]["inputs"] == {"filename_prefix": "ComfyUI", "images": ["8", 0]}


def test_explicit_false_control_means_no_slot():
    info = {
        "N": {
            "input": {
                "required": {
                    "seed": ["INT", {"default": 0, "control_after_generate": False}],
                    "b": ["INT", {"default": 0}],
                }
            },
            "input_order": {"required": ["seed", "b"]},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", [5, 6])
    assert convert(g, info).prompt["1"]["inputs"] == {"seed": 5, "b": 6}


def test_control_after_generate_mode_string_adds_slot():
    info = {
        "N": {
            "input": {"required": {"x": ["INT", {"control_after_generate": "fixed"}], "y": ["FLOAT", {}]}},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", [5, "fixed", 0.5])
    assert convert(g, info).prompt["1"]["inputs"] == {"x": 5, "y": 0.5}


def test_combo_control_adds_mode_and_filter_slots():
    info = {
        "N": {
            "input": {"required": {"c": [["a", "b"], {"control_after_generate": True}], "s": ["STRING", {}]}},
            "input_order": {"required": ["c", "s"]},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", ["b", "increment", "", "text"])
    assert convert(g, info).prompt["1"]["inputs"] == {"c": "b", "s": "text"}


def test_v3_combo_type_is_a_widget(object_info):
    g = Graph()
    g.node(1, "LatentCut", ["y", 3, 2], inputs=[("samples", "LATENT")])
    assert convert(g, object_info).prompt["1"]["inputs"] == {"dim": "y", "index": 3, "amount": 2}


def test_image_upload_slot_is_not_serialised(object_info):
    g = Graph()
    g.node(1, "LoadImage", ["example.png", "image"], outputs=[IMG, "MASK"])
    assert convert(g, object_info).prompt["1"]["inputs"] == {"image": "example.png"}


def test_video_upload_slot(object_info):
    g = Graph()
    g.node(1, "LoadVideo", ["clip.mp4", "image"], outputs=["VIDEO"])
    assert convert(g, object_info).prompt["1"]["inputs"] == {"file": "clip.mp4"}


def test_audio_upload_adds_audio_ui_then_upload():
    info = {
        "LoadAudio": {
            "input": {"required": {"audio": [["a.flac"], {"audio_upload": True}]}},
            "output": ["AUDIO"],
        }
    }
    g = Graph()
    g.node(1, "LoadAudio", ["ace_step_example.flac", None, None])
    assert convert(g, info).prompt["1"]["inputs"] == {"audio": "ace_step_example.flac", "audioUI": ""}


def test_frontend_only_serialised_widgets(object_info):
    g = Graph()
    g.node(1, "Preview3D", ["model.glb", ""], inputs=[("camera_info", "LOAD3D_CAMERA"), ("bg_image", IMG)])
    prompt = convert(g, object_info).prompt
    assert prompt["1"]["inputs"] == {"model_file": "model.glb", "image": ""}
    assert prompt["1"]["_meta"]["title"] == "Preview 3D"
    g = Graph()
    g.node(1, "SaveGLB", ["mesh/ComfyUI", "whatever"], inputs=[("mesh", "MESH")])
    assert convert(g, object_info).prompt["1"]["inputs"] == {"filename_prefix": "mesh/ComfyUI", "image": ""}
    info = {
        "SaveAudioMP3": {
            "input": {
                "required": {
                    "audio": ["AUDIO", {}],
                    "filename_prefix": ["STRING", {}],
                    "quality": [["V0", "128k"], {}],
                }
            },
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "SaveAudioMP3", ["audio/ComfyUI", "V0"], inputs=[("audio", "AUDIO")])
    assert convert(g, info).prompt["1"]["inputs"] == {
        "filename_prefix": "audio/ComfyUI",
        "quality": "V0",
        "audioUI": "",
    }


def test_too_short_widgets_values_use_defaults(object_info):
    g = Graph()
    g.node(1, "EmptyImage", [100], outputs=[IMG])
    assert convert(g, object_info).prompt["1"]["inputs"] == {
        "width": 100,
        "height": 512,
        "batch_size": 1,
        "color": 0,
    }


def test_missing_widgets_values_use_defaults(object_info):
    g = Graph()
    g.node(1, "ImageScale", None, inputs=[("image", IMG)])
    assert convert(g, object_info).prompt["1"]["inputs"] == {
        "upscale_method": "nearest-exact",
        "width": 512,
        "height": 512,
        "crop": "disabled",
    }


def test_dict_widgets_values_give_defaults_and_a_warning(object_info):
    g = Graph()
    g.node(12, "EmptyImage", {"width": 100, "custom": True}, outputs=[IMG])
    result = convert(g, object_info)
    assert result.prompt["12"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1, "color": 0}
    assert result.warnings == ["node 12 (EmptyImage): widgets could not be mapped offline; defaults used"]


def test_force_input_is_a_socket_and_legacy_slot_is_dropped():
    info = {
        "N": {
            "input": {"required": {"a": ["INT", {"forceInput": True}], "b": ["STRING", {}]}},
            "input_order": {"required": ["a", "b"]},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", ["text"])
    assert convert(g, info).prompt["1"]["inputs"] == {"b": "text"}
    g = Graph()
    g.node(1, "N", [7, "old"])  # an old workflow kept a slot for the forceInput widget
    assert convert(g, info).prompt["1"]["inputs"] == {"b": "old"}


def test_input_order_beats_dict_order_and_optional_follows_required():
    info = {
        "N": {
            "input": {
                "required": {"b": ["INT", {}], "a": ["INT", {}]},
                "optional": {"z": ["FLOAT", {}]},
                "hidden": {"h": "UNIQUE_ID"},
            },
            "input_order": {"required": ["a", "b"], "optional": ["z"], "hidden": ["h"]},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", [1, 2, 0.5])
    assert convert(g, info).prompt["1"]["inputs"] == {"a": 1, "b": 2, "z": 0.5}
    del info["N"]["input_order"]  # fallback: dict key order
    assert convert(g, info).prompt["1"]["inputs"] == {"b": 1, "a": 2, "z": 0.5}


def test_array_values_are_wrapped():
    info = {
        "N": {
            "input": {"required": {"m": ["COMBO", {"options": ["a", "b"], "multiselect": True}]}},
            "output": [],
        }
    }
    g = Graph()
    g.node(1, "N", [["a", "b"]])
    assert convert(g, info).prompt["1"]["inputs"] == {"m": {"__value__": ["a", "b"]}}


def test_type_renames(object_info):
    g = Graph()
    g.node(1, "T2IAdapterLoader", ["adapter.safetensors"], outputs=["CONTROL_NET"])
    prompt = convert(g, object_info).prompt
    assert prompt["1"]["class_type"] == "ControlNetLoader"
    assert prompt["1"]["inputs"] == {"control_net_name": "adapter.safetensors"}


def test_unknown_node_type_is_kept_with_a_warning(object_info):
    g = image_chain()
    g.node(7, "MyDynamicNode", [1, 2, 3], inputs=[("image", IMG)])
    g.link(1, 0, 7, 0, IMG)
    result = convert(g, object_info)
    assert result.prompt["7"] == {
        "inputs": {"image": ["1", 0]},
        "class_type": "MyDynamicNode",
        "_meta": {"title": "MyDynamicNode"},
    }
    assert any("node 7 (MyDynamicNode)" in w and "not known" in w for w in result.warnings)


# ---------------------------------------------------------------------------------------------
# dynamic prompts


@pytest.mark.parametrize(
    ("text", "expected", "chose"),
    [
        ("a cat // a comment\nsecond", "a cat \nsecond", False),
        ("a /* block\ncomment */cat", "a cat", False),
        ("see https://example.com/x", "see https:", False),
        ("{red} ball", "red ball", False),
        ("{red|green|blue} ball", "red ball", True),
        ("{a|{b|c}} {{x|y}|z}", "a x", True),
        (r"\{not a choice\} a\|b", "{not a choice} a|b", False),
    ],
)
def test_process_dynamic_prompt(text, expected, chose):
    assert process_dynamic_prompt(text) == (expected, chose)


def test_dynamic_prompts_only_for_flagged_string_widgets(object_info):
    g = Graph()
    g.node(6, "CLIPTextEncode", ["a {red|blue} fox // note"], inputs=[("clip", "CLIP")])
    g.node(9, "SaveImage", ["a // b"], inputs=[("images", IMG)])
    result = convert(g, object_info)
    assert result.prompt["6"]["inputs"]["text"] == "a red fox "
    assert result.prompt["9"]["inputs"]["filename_prefix"] == "a // b"
    assert len(result.warnings) == 1 and "node 6 (CLIPTextEncode)" in result.warnings[0]


# ---------------------------------------------------------------------------------------------
# links


def test_link_overrides_a_converted_widget_matched_by_slot_index(object_info):
    g = Graph()
    g.node(1, "PrimitiveInt", [77, "fixed"], outputs=["INT"])
    g.node(
        2,
        "EmptyImage",
        [64, 64, 1, 0],
        outputs=[IMG],
        inputs=[{"name": "height", "type": "INT", "widget": {"name": "height"}}],
    )
    g.link(1, 0, 2, 0, "INT")
    assert convert(g, object_info).prompt["2"]["inputs"] == {
        "width": 64,
        "height": ["1", 0],
        "batch_size": 1,
        "color": 0,
    }


def test_reroute_chain_is_followed(object_info):
    g = Graph()
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    g.node(2, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)])
    g.node(3, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)], mode=4)
    g.node(4, "ImageInvert", [], inputs=[("image", IMG)])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, IMG)
    g.link(3, 0, 4, 0, IMG)
    prompt = convert(g, object_info).prompt
    assert list(prompt) == ["1", "4"]
    assert prompt["4"]["inputs"]["image"] == ["1", 0]


def test_unconnected_reroute_drops_the_input(object_info):
    g = Graph()
    g.node(2, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)])
    g.node(4, "ImageInvert", [], inputs=[("image", IMG)])
    g.link(2, 0, 4, 0, IMG)
    assert convert(g, object_info).prompt["4"]["inputs"] == {}


def test_primitive_node_value_is_copied_into_every_target(object_info):
    g = Graph()
    g.node(5, "PrimitiveNode", [300, "fixed"], outputs=[("INT", "INT")])
    g.get(5)["outputs"][0]["widget"] = {"name": "width"}
    for nid in (6, 7):
        g.node(
            nid,
            "EmptyImage",
            [64, 64, 1, 0],
            outputs=[IMG],
            inputs=[{"name": "width", "type": "INT", "widget": {"name": "width"}}],
        )
        g.link(5, 0, nid, 0, "INT")
    prompt = convert(g, object_info).prompt
    assert "5" not in prompt
    assert prompt["6"]["inputs"]["width"] == 300
    assert prompt["7"]["inputs"]["width"] == 300


def test_primitive_through_reroute_and_dynamic_prompt(object_info):
    g = Graph()
    g.node(5, "PrimitiveNode", ["a {x|y} // c"], outputs=[("STRING", "STRING")])
    g.node(2, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", "STRING")])
    g.node(
        6,
        "CLIPTextEncode",
        ["old"],
        inputs=[("clip", "CLIP"), {"name": "text", "type": "STRING", "widget": {"name": "text"}}],
    )
    g.link(5, 0, 2, 0, "STRING")
    g.link(2, 0, 6, 1, "STRING")
    assert convert(g, object_info).prompt["6"]["inputs"] == {"text": "a x "}


def test_bypassed_origin_same_index(object_info):
    prompt = convert(image_chain(mode_blur=4), object_info).prompt
    assert "2" not in prompt
    assert prompt["3"]["inputs"]["images"] == ["1", 0]


def test_bypass_is_recursive(object_info):
    g = image_chain(mode_blur=4)
    g.node(4, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG], mode=4)
    g.get(3)["inputs"][0]["link"] = None
    g.link(2, 0, 4, 0, IMG)
    g.link(4, 0, 3, 0, IMG)
    assert convert(g, object_info).prompt["3"]["inputs"]["images"] == ["1", 0]


def test_bypass_picks_first_input_of_the_consumer_type(object_info):
    # ImageCompositeMasked: destination IMAGE, source IMAGE, mask MASK; output 0 = IMAGE.
    # A MASK consumer of the bypassed node takes its mask input (exact type match).
    g = Graph()
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    g.node(2, "SolidMask", [1.0, 8, 8], outputs=["MASK"])
    g.node(
        3,
        "ImageCompositeMasked",
        [0, 0, False],
        inputs=[("destination", IMG), ("source", IMG), ("mask", "MASK")],
        outputs=[IMG],
        mode=4,
    )
    g.node(4, "InvertMask", [], inputs=[("mask", "MASK")])
    g.link(1, 0, 3, 0, IMG)
    g.link(2, 0, 3, 2, "MASK")
    g.link(3, 0, 4, 0, "MASK")
    assert convert(g, object_info).prompt["4"]["inputs"] == {"mask": ["2", 0]}


def test_bypass_without_matching_input_omits_the_key(object_info):
    g = Graph()
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    g.node(2, "ImageToMask", ["red"], inputs=[("image", IMG)], outputs=["MASK"], mode=4)
    g.node(3, "InvertMask", [], inputs=[("mask", "MASK")])
    g.link(1, 0, 2, 0, IMG)
    g.link(2, 0, 3, 0, "MASK")
    result = convert(g, object_info)
    assert result.prompt["3"]["inputs"] == {}
    assert any("bypassed node 2" in w for w in result.warnings)


def test_muted_origin_deletes_the_input_and_the_node(object_info):
    g = image_chain()
    g.get(2)["mode"] = 2
    prompt = convert(g, object_info).prompt
    assert "2" not in prompt
    assert prompt["3"]["inputs"] == {"filename_prefix": "out"}


def test_notes_are_skipped(object_info):
    g = image_chain()
    g.node(8, "Note", ["text"])
    g.node(9, "MarkdownNote", ["# md"])
    assert list(convert(g, object_info).prompt) == ["1", "2", "3"]


def test_missing_link_id_raises(object_info):
    g = image_chain()
    g.get(3)["inputs"][0]["link"] = 99
    with pytest.raises(InputError, match=r"node 3 input 'images' uses link 99"):
        convert(g, object_info)


def test_link_from_missing_node_raises(object_info):
    g = image_chain()
    g.links[1][1] = 42
    with pytest.raises(InputError, match=r"node 3 input 'images' is linked to node 42"):
        convert(g, object_info)


def test_circular_reroutes_raise(object_info):
    g = Graph()
    g.node(2, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)])
    g.node(3, "Reroute", inputs=[{"name": "", "type": "*"}], outputs=[("", IMG)])
    g.node(4, "ImageInvert", [], inputs=[("image", IMG)])
    g.link(2, 0, 3, 0, IMG)
    g.link(3, 0, 2, 0, IMG)
    g.link(3, 0, 4, 0, IMG)
    with pytest.raises(InputError, match="circular"):
        convert(g, object_info)


def test_not_a_workflow_raises(object_info):
    with pytest.raises(InputError, match="nodes"):
        editor_to_api({"links": []}, object_info)


# ---------------------------------------------------------------------------------------------
# subgraphs


SG = "11111111-2222-4333-8444-555555555555"
SG_INNER = "99999999-2222-4333-8444-555555555555"


def subgraph_workflow(instance_mode: int = 0, inner_mode: int = 0) -> dict[str, Any]:
    inner = Graph("object")
    inner.node(
        10,
        "ImageBlur",
        [2, 1.0],
        inputs=[("image", IMG), {"name": "blur_radius", "type": "INT", "widget": {"name": "blur_radius"}}],
        outputs=[IMG],
        mode=inner_mode,
    )
    inner.node(11, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    inner.link(-10, 0, 10, 0, IMG)
    inner.link(-10, 1, 10, 1, "INT")
    inner.link(10, 0, 11, 0, IMG)
    inner.link(11, 0, -20, 0, IMG)
    inner.link(-10, 0, -20, 1, IMG)  # pass-through output
    outer = Graph()
    outer.subgraphs.append(
        inner.subgraph_json(
            SG, "Blur+invert", [("image", IMG), ("radius", "INT")], [("IMAGE", IMG), ("original", IMG)]
        )
    )
    outer.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    outer.node(
        5,
        SG,
        [7],
        inputs=[("image", IMG)],
        outputs=[("IMAGE", IMG), ("original", IMG)],
        mode=instance_mode,
        title="Blur+invert",
    )
    outer.node(6, "SaveImage", ["a"], inputs=[("images", IMG)])
    outer.node(7, "SaveImage", ["b"], inputs=[("images", IMG)])
    outer.link(1, 0, 5, 0, IMG)
    outer.link(5, 0, 6, 0, IMG)
    outer.link(5, 1, 7, 0, IMG)
    return outer.to_json()


def test_subgraph_expansion_with_path_ids(object_info):
    prompt = editor_to_api(subgraph_workflow(), object_info).prompt
    assert list(prompt) == ["1", "5:10", "5:11", "6", "7"]
    assert prompt["5:10"]["inputs"] == {"blur_radius": 7, "sigma": 1.0, "image": ["1", 0]}
    assert prompt["5:11"]["inputs"] == {"image": ["5:10", 0]}
    assert prompt["6"]["inputs"]["images"] == ["5:11", 0]
    assert prompt["7"]["inputs"]["images"] == ["1", 0]  # output fed straight from a subgraph input


def test_subgraph_input_linked_outside_wins_over_widget(object_info):
    wf = subgraph_workflow()
    wf["nodes"].insert(
        0,
        {
            "id": 2,
            "type": "PrimitiveInt",
            "mode": 0,
            "inputs": [],
            "outputs": [{"name": "INT", "type": "INT", "links": [90]}],
            "widgets_values": [9, "fixed"],
        },
    )
    wf["nodes"][2]["inputs"].append(
        {"name": "radius", "type": "INT", "widget": {"name": "radius"}, "link": 90}
    )
    wf["links"].append([90, 2, 0, 5, 1, "INT"])
    prompt = editor_to_api(wf, object_info).prompt
    assert prompt["5:10"]["inputs"]["blur_radius"] == ["2", 0]


def test_muted_subgraph_node_behaves_as_active(object_info):
    assert (
        editor_to_api(subgraph_workflow(instance_mode=2), object_info).prompt
        == editor_to_api(subgraph_workflow(), object_info).prompt
    )


def test_bypassed_subgraph_node_reroutes_consumers_but_emits_inner_nodes(object_info):
    prompt = editor_to_api(subgraph_workflow(instance_mode=4), object_info).prompt
    assert "5:10" in prompt and "5:11" in prompt
    assert prompt["6"]["inputs"]["images"] == ["1", 0]


def test_inner_node_modes_apply(object_info):
    prompt = editor_to_api(subgraph_workflow(inner_mode=4), object_info).prompt
    assert "5:10" not in prompt
    assert prompt["5:11"]["inputs"] == {"image": ["1", 0]}


def test_nested_subgraphs(object_info):
    inner = Graph("object")
    inner.node(30, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    inner.link(-10, 0, 30, 0, IMG)
    inner.link(30, 0, -20, 0, IMG)
    middle = Graph("object")
    middle.node(20, SG_INNER, [], inputs=[("image", IMG)], outputs=[("IMAGE", IMG)])
    middle.node(21, "ImageInvert", [], inputs=[("image", IMG)], outputs=[IMG])
    middle.link(-10, 0, 20, 0, IMG)
    middle.link(20, 0, 21, 0, IMG)
    middle.link(21, 0, -20, 0, IMG)
    outer = Graph()
    outer.subgraphs += [
        middle.subgraph_json(SG, "middle", [("image", IMG)], [("IMAGE", IMG)]),
        inner.subgraph_json(SG_INNER, "inner", [("image", IMG)], [("IMAGE", IMG)]),
    ]
    outer.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    outer.node(5, SG, [], inputs=[("image", IMG)], outputs=[("IMAGE", IMG)])
    outer.node(6, "SaveImage", ["n"], inputs=[("images", IMG)])
    outer.link(1, 0, 5, 0, IMG)
    outer.link(5, 0, 6, 0, IMG)
    prompt = convert(outer, object_info).prompt
    assert prompt["5:20:30"]["inputs"] == {"image": ["1", 0]}
    assert prompt["5:21"]["inputs"] == {"image": ["5:20:30", 0]}
    assert prompt["6"]["inputs"]["images"] == ["5:21", 0]


def test_real_subgraph_template(object_info):
    prompt = convert(load_fixture("01_qwen_t2i_subgraphed.json"), object_info).prompt
    assert prompt["60"]["inputs"]["images"] == ["75:8", 0]
    assert prompt["75:3"]["inputs"]["seed"] == 1125488487853216  # promoted widget, no control slot
    assert prompt["75:3"]["inputs"]["steps"] == 4
    assert prompt["75:58"]["inputs"] == {"width": 1328, "height": 1328, "batch_size": 1}
    assert prompt["75:6"]["inputs"]["text"].startswith("Giant blue and purple")
    assert not any(k in ("82", "78", "75") for k in prompt)


# ---------------------------------------------------------------------------------------------
# legacy group nodes


def legacy_group_graph() -> Graph:
    group = {
        "nodes": [
            {
                "id": -1,
                "type": "ImageBlur",
                "pos": [0, 0],
                "size": [270, 82],
                "flags": {},
                "order": 0,
                "mode": 0,
                "inputs": [{"name": "image", "type": IMG, "link": None}],
                "outputs": [{"name": IMG, "type": IMG, "links": [], "slot_index": 0}],
                "properties": {},
                "widgets_values": [1, 1.0],
                "index": 0,
            },
            {
                "id": -1,
                "type": "ImageInvert",
                "pos": [0, 0],
                "size": [140, 26],
                "flags": {},
                "order": 1,
                "mode": 0,
                "inputs": [{"name": "image", "type": IMG, "link": None}],
                "outputs": [{"name": IMG, "type": IMG, "links": [], "slot_index": 0}],
                "properties": {},
                "index": 1,
            },
        ],
        "links": [[0, 0, 1, 0, 12, IMG]],
        "external": [],
    }
    g = Graph()
    g.extra["groupNodes"] = {"BlurInvert": group}
    g.node(1, "EmptyImage", [8, 8, 1, 0], outputs=[IMG])
    g.node(4, "workflow>BlurInvert", [5, 2.5], inputs=[("image", IMG)], outputs=[IMG])
    g.node(6, "SaveImage", ["g"], inputs=[("images", IMG)])
    g.link(1, 0, 4, 0, IMG)
    g.link(4, 0, 6, 0, IMG)
    return g


def test_legacy_group_node_is_expanded(object_info):
    g = legacy_group_graph()
    result = convert(g, object_info)
    assert result.prompt["4:0"]["inputs"] == {"blur_radius": 5, "sigma": 2.5, "image": ["1", 0]}
    assert result.prompt["4:1"]["inputs"] == {"image": ["4:0", 0]}
    assert result.prompt["6"]["inputs"]["images"] == ["4:1", 0]
    assert "4" not in result.prompt
    # the old separator works too
    data = g.to_json()
    data["nodes"][1]["type"] = "workflow/BlurInvert"
    assert editor_to_api(data, object_info).prompt == result.prompt


def test_input_workflow_is_not_mutated(acceptance_workflow, object_info):
    before = copy.deepcopy(acceptance_workflow)
    editor_to_api(acceptance_workflow, object_info)
    assert acceptance_workflow == before
