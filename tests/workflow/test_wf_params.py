"""apply_overrides, editable_params, validate_params, apply_seed_mode."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfytui.core.errors import InputError
from comfytui.core.workflows.convert import editor_to_api
from comfytui.core.workflows.params import (
    apply_overrides,
    apply_seed_mode,
    editable_params,
    next_seed,
    seed_inputs,
    validate_params,
)


@pytest.fixture
def prompt(acceptance_workflow, object_info):
    return editor_to_api(acceptance_workflow, object_info).prompt


def test_override_by_id_title_and_unique_class(prompt, object_info):
    out = apply_overrides(
        prompt,
        ["1.width=128", "Save Image.filename_prefix=run", "ComfyTUIProgress.fmt=JPEG", "4:21.crop=center"],
        object_info,
    )
    assert out["1"]["inputs"]["width"] == 128
    assert out["6"]["inputs"]["filename_prefix"] == "run"
    assert out["8"]["inputs"]["fmt"] == "JPEG"
    assert out["4:21"]["inputs"]["crop"] == "center"
    assert prompt["1"]["inputs"]["width"] == 64  # the input prompt is untouched


def test_value_parsing(prompt, object_info):
    out = apply_overrides(
        prompt,
        ["8.delay=0", "6.filename_prefix=001", '6.filename_prefix="quoted"', "1.color=true"],
        object_info,
    )
    assert out["8"]["inputs"]["delay"] == 0.0 and isinstance(out["8"]["inputs"]["delay"], float)
    assert out["6"]["inputs"]["filename_prefix"] == "quoted"
    out = apply_overrides(prompt, ["6.filename_prefix=001"], object_info)
    assert out["6"]["inputs"]["filename_prefix"] == "001"  # STRING input: stays text
    out = apply_overrides(prompt, ["6.filename_prefix=a=b c"])
    assert out["6"]["inputs"]["filename_prefix"] == "a=b c"


def test_lists_wrapped_unless_a_link(prompt):
    out = apply_overrides(prompt, ["8.seed=[1, 2]", '6.images=["1", 0]'])
    assert out["8"]["inputs"]["seed"] == {"__value__": [1, 2]}
    assert out["6"]["inputs"]["images"] == ["1", 0]


def test_title_with_dots():
    p = {"1": {"class_type": "X", "inputs": {"a": 1}, "_meta": {"title": "v1.5 loader"}}}
    assert apply_overrides(p, ["v1.5 loader.a=2"])["1"]["inputs"]["a"] == 2


def test_unknown_node_lists_closest(prompt):
    with pytest.raises(InputError, match=r"no node 'Save Imag'.*closest: 'Save Image'"):
        apply_overrides(prompt, ["Save Imag.filename_prefix=x"])


def test_unknown_input_lists_inputs(prompt):
    with pytest.raises(
        InputError, match=r"node 1 \(EmptyImage\) has no input 'widht'.*'width'.*Inputs: width"
    ):
        apply_overrides(prompt, ["1.widht=3"])


def test_ambiguous_class(object_info):
    p = {
        "1": {"class_type": "ImageInvert", "inputs": {}, "_meta": {"title": "Invert Image"}},
        "2": {"class_type": "ImageInvert", "inputs": {}, "_meta": {"title": "Invert Image"}},
    }
    with pytest.raises(InputError, match="ambiguous"):
        apply_overrides(p, ["ImageInvert.image=x"])


def test_malformed_override(prompt):
    with pytest.raises(InputError, match="NODE.INPUT=VALUE"):
        apply_overrides(prompt, ["width"])


def test_declared_input_absent_from_prompt_can_be_set(prompt, object_info):
    out = apply_overrides(prompt, ['ComfyTUIProgress.image=["1", 0]'], object_info)
    assert out["8"]["inputs"]["image"] == ["1", 0]


def test_editable_params(prompt, object_info):
    params = editable_params(prompt, object_info)
    keys = [p.key for p in params]
    assert keys == [
        "1.width",
        "1.height",
        "1.batch_size",
        "1.color",
        "4:21.upscale_method",
        "4:21.width",
        "4:21.height",
        "4:21.crop",
        "6.filename_prefix",
        "8.steps",
        "8.delay",
        "8.fmt",
        "8.seed",
    ]
    by_key = {p.key: p for p in params}
    w = by_key["1.width"]
    assert (w.kind, w.min, w.max, w.step, w.default, w.title) == ("INT", 1, 16384, 1, 512, "EmptyImage")
    assert by_key["4:21.crop"].choices == ("disabled", "center")
    assert by_key["8.fmt"].kind == "COMBO"
    assert by_key["8.delay"].kind == "FLOAT"
    assert by_key["6.filename_prefix"].kind == "STRING"
    assert by_key["8.seed"].control_after_generate and not w.control_after_generate


def test_editable_params_multiline_and_unknown_class(object_info):
    p = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "hi", "clip": ["2", 0]}},
        "2": {"class_type": "Mystery", "inputs": {"flag": True, "n": 3, "x": 0.5, "s": "a"}},
    }
    params = editable_params(p, object_info)
    assert [(q.key, q.kind) for q in params] == [
        ("1.text", "STRING"),
        ("2.flag", "BOOLEAN"),
        ("2.n", "INT"),
        ("2.x", "FLOAT"),
        ("2.s", "STRING"),
    ]
    assert params[0].multiline


def test_validate_params(prompt, object_info):
    assert validate_params(prompt, object_info) == []
    bad = apply_overrides(prompt, ["1.width=0", "1.height=99999", "4:21.crop=sideways", "8.steps=abc"])
    errors = {(e.node_id, e.input_name): e for e in validate_params(bad, object_info)}
    assert errors["1", "width"].kind == "value_smaller_than_min"
    assert errors["1", "height"].kind == "value_bigger_than_max"
    assert errors["4:21", "crop"].kind == "value_not_in_list"
    assert "'sideways' not in" in errors["4:21", "crop"].details
    assert errors["8", "steps"].kind == "invalid_input_type"
    assert errors["1", "width"].describe().startswith("node 1 (EmptyImage), input 'width': Value 0 smaller")


def test_seed_inputs(object_info):
    p = {
        "1": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "model": ["9", 0]}},
        "2": {"class_type": "RandomNoise", "inputs": {"noise_seed": 7}},
        "3": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},  # control_after_generate: true
        "4": {"class_type": "KSampler", "inputs": {"seed": ["3", 0]}},
        "5": {"class_type": "Unknown", "inputs": {"seed": 1, "other": 2}},
    }
    assert seed_inputs(p, object_info) == [("1", "seed"), ("2", "noise_seed"), ("3", "value"), ("5", "seed")]


def test_apply_seed_mode(object_info):
    p = {
        "1": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20}},
        "2": {"class_type": "ComfyTUIProgress", "inputs": {"seed": 2**64 - 2, "steps": 2}},
    }
    assert apply_seed_mode(p, "fixed", 3, object_info) == p
    inc = apply_seed_mode(p, "increment", 3, object_info)
    assert inc["1"]["inputs"] == {"seed": 8, "steps": 20}
    assert inc["2"]["inputs"]["seed"] == 1  # wrapped within [0, 2^64-1]
    dec = apply_seed_mode(p, "decrement", 6, object_info)
    assert dec["1"]["inputs"]["seed"] == 2**64 - 1  # 5 - 6 wraps to max
    r1 = apply_seed_mode(p, "randomize", 0, object_info, random.Random(1))
    r2 = apply_seed_mode(p, "randomize", 0, object_info, random.Random(1))
    assert r1 == r2 and r1 != p
    assert 0 <= r1["1"]["inputs"]["seed"] <= 1125899906842624
    with pytest.raises(InputError, match="unknown seed mode"):
        apply_seed_mode(p, "sideways", 0, object_info)


@given(st.integers(-50, 50), st.integers(0, 1000), st.sampled_from(["increment", "decrement"]))
def test_next_seed_stays_in_range(lo, index, mode):
    hi = lo + 17
    for value in (lo, hi, lo + 5):
        out = next_seed(value, mode, index, lo, hi, random.Random(0))
        assert lo <= out <= hi
        assert (out - value) % 18 == ((index if mode == "increment" else -index) % 18)
