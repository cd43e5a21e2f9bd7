"""Editing the literal inputs of an API prompt: overrides, editable parameters, checks, seeds."""

from __future__ import annotations

import copy
import difflib
import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from comfytui.core.errors import InputError, NodeInputError
from comfytui.core.workflows.convert import (
    SEED_NAMES,
    combo_choices,
    iter_input_specs,
    spec_kind,
    spec_options,
)

ParamKind = Literal["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]
SeedMode = Literal["fixed", "increment", "decrement", "randomize"]
SEED_MODES: tuple[str, ...] = ("fixed", "increment", "decrement", "randomize")
_EDITABLE_KINDS = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
_RANDOM_LIMIT = 1125899906842624
"""The frontend's randomize draws within ±2^50 even where the input allows more."""


@dataclass(frozen=True)
class Param:
    """One literal (non-link) input of a prompt node that a user may edit."""

    node_id: str
    title: str
    class_type: str
    input_name: str
    value: Any
    kind: ParamKind
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None
    multiline: bool = False
    default: Any = None
    control_after_generate: bool = False
    """True for seed-like INT inputs (the frontend shows a control_after_generate companion)."""

    @property
    def key(self) -> str:
        """The ``NODE.INPUT`` spelling ``apply_overrides`` accepts."""
        return f"{self.node_id}.{self.input_name}"


def is_link(value: Any) -> bool:
    """True for ``["<node id>", <slot>]``, the API format's link value."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def node_title(node: dict[str, Any]) -> str:
    meta = node.get("_meta") or {}
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) and title else str(node.get("class_type", ""))


def _specs(object_info: dict[str, Any] | None, class_type: str) -> dict[str, list[Any]]:
    node_def = (object_info or {}).get(class_type)
    if not isinstance(node_def, dict):
        return {}
    return {name: spec for name, spec, _ in iter_input_specs(node_def)}


# --------------------------------------------------------------------------------------------
# overrides


def resolve_node(prompt: dict[str, Any], ref: str) -> str:
    """The id of the node ``ref`` names: an id, a ``_meta.title``, or a class_type used once.

    Raises ``InputError`` naming the closest matches when nothing or more than one node matches.
    """
    if ref in prompt:
        return ref
    by_title = [nid for nid, node in prompt.items() if node_title(node) == ref]
    if len(by_title) == 1:
        return by_title[0]
    if len(by_title) > 1:
        raise InputError(f"node '{ref}' is ambiguous: nodes {', '.join(by_title)} have that title; use an id")
    by_class = [nid for nid, node in prompt.items() if node.get("class_type") == ref]
    if len(by_class) == 1:
        return by_class[0]
    if len(by_class) > 1:
        raise InputError(
            f"node '{ref}' is ambiguous: nodes {', '.join(by_class)} are {ref} nodes; use an id or a title"
        )
    folded = [nid for nid, node in prompt.items() if node_title(node).casefold() == ref.casefold()]
    if len(folded) == 1:
        return folded[0]
    names = list(prompt) + [node_title(n) for n in prompt.values()]
    names += [str(n.get("class_type")) for n in prompt.values()]
    close = difflib.get_close_matches(ref, list(dict.fromkeys(names)), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    listing = ", ".join(f"{nid} ({node_title(n)})" for nid, n in list(prompt.items())[:20])
    more = ", ..." if len(prompt) > 20 else ""
    raise InputError(f"no node '{ref}' in the workflow{hint}. Nodes: {listing}{more}")


def parse_value(text: str) -> Any:
    """JSON when the text parses as JSON (numbers, true/false, null, "quoted", lists), else the text."""
    try:  # NaN, Infinity and 1e999 stay text: no server takes a non-finite number
        value = json.loads(text, parse_constant=_not_a_number)
    except (json.JSONDecodeError, ValueError, RecursionError):
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def _not_a_number(name: str) -> Any:
    raise ValueError(name)


def _coerce(value: Any, raw: str, spec: list[Any] | None, prompt: dict[str, Any]) -> Any:
    if isinstance(value, list):
        # A 2-list naming an existing node is a link; any other array must be wrapped.
        if is_link(value) and value[0] in prompt:
            return value
        return {"__value__": value}
    if spec is None:
        return value
    kind = spec_kind(spec)
    if kind == "STRING" and not isinstance(value, str) and not isinstance(value, dict):
        return raw
    if kind == "COMBO" and not isinstance(value, str):
        choices = combo_choices(spec)
        if value not in choices and raw in choices:
            return raw
    if kind == "FLOAT" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def apply_overrides(
    prompt: dict[str, Any], overrides: Iterable[str], object_info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A copy of ``prompt`` with ``NODE.INPUT=VALUE`` overrides applied, in order.

    ``NODE`` is a node id, a ``_meta.title`` or a class_type used by one node only. ``VALUE`` is
    read as JSON when it parses (``20``, ``1.5``, ``true``, ``"text"``, ``[1, 2]``), else as a
    plain string. With ``object_info``, a value for a STRING input stays text (``prefix=001``)
    and inputs the node's class declares may be set even when absent from the prompt.
    """
    out = copy.deepcopy(prompt)
    for item in overrides:
        lhs, sep, raw = item.partition("=")
        if not sep or "." not in lhs:
            raise InputError(f"override '{item}' is not of the form NODE.INPUT=VALUE")
        node_id, input_name = _split_target(out, lhs, object_info)
        node = out[node_id]
        spec = _specs(object_info, str(node.get("class_type"))).get(input_name)
        node.setdefault("inputs", {})[input_name] = _coerce(parse_value(raw), raw, spec, out)
    return out


def _split_target(prompt: dict[str, Any], lhs: str, object_info: dict[str, Any] | None) -> tuple[str, str]:
    """Split ``NODE.INPUT`` where node titles may contain dots: the rightmost split that works wins."""
    first_error: InputError | None = None
    dots = [i for i, c in enumerate(lhs) if c == "."]
    for pos in reversed(dots):
        ref, input_name = lhs[:pos], lhs[pos + 1 :]
        try:
            node_id = resolve_node(prompt, ref)
        except InputError as exc:
            first_error = first_error or exc
            continue
        node = prompt[node_id]
        known = list((node.get("inputs") or {}).keys())
        declared = list(_specs(object_info, str(node.get("class_type"))))
        if input_name in known or input_name in declared:
            return node_id, input_name
        choices = list(dict.fromkeys(known + declared))
        close = difflib.get_close_matches(input_name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        first_error = first_error or InputError(
            f"node {node_id} ({node_title(node)}) has no input '{input_name}'{hint} "
            f"Inputs: {', '.join(choices) or '(none)'}"
        )
    assert first_error is not None
    raise first_error


# --------------------------------------------------------------------------------------------
# editable parameters


def _value_kind(value: Any) -> ParamKind | None:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str):
        return "STRING"
    return None


def is_seed_like(name: str, spec: list[Any] | None) -> bool:
    """An INT input the frontend gives a control_after_generate companion."""
    if spec is None:
        return name in SEED_NAMES
    if spec_kind(spec) != "INT":
        return False
    opts = spec_options(spec)
    if "control_after_generate" in opts:
        return bool(opts["control_after_generate"])
    return name in SEED_NAMES


def editable_params(prompt: dict[str, Any], object_info: dict[str, Any] | None) -> list[Param]:
    """The literal inputs of every node, in node order, then in the class's input order."""
    params: list[Param] = []
    for node_id, node in prompt.items():
        class_type = str(node.get("class_type", ""))
        inputs = node.get("inputs") or {}
        specs = _specs(object_info, class_type)
        names = [n for n in specs if n in inputs] + [n for n in inputs if n not in specs]
        for name in names:
            value = inputs[name]
            if is_link(value) or isinstance(value, (dict, list)) or value is None:
                continue
            spec = specs.get(name)
            if spec is not None:
                kind = spec_kind(spec)
                if kind not in _EDITABLE_KINDS:
                    continue
                opts = spec_options(spec)
                choices = tuple(combo_choices(spec)) if kind == "COMBO" else None
                params.append(
                    Param(
                        node_id=node_id,
                        title=node_title(node),
                        class_type=class_type,
                        input_name=name,
                        value=value,
                        kind=kind,  # type: ignore[arg-type]
                        min=opts.get("min"),
                        max=opts.get("max"),
                        step=opts.get("step"),
                        choices=choices,
                        multiline=bool(opts.get("multiline")),
                        default=opts.get("default", choices[0] if choices else None),
                        control_after_generate=is_seed_like(name, spec),
                    )
                )
            else:
                vkind = _value_kind(value)
                if vkind is None:
                    continue
                params.append(
                    Param(
                        node_id=node_id,
                        title=node_title(node),
                        class_type=class_type,
                        input_name=name,
                        value=value,
                        kind=vkind,
                        control_after_generate=vkind == "INT" and name in SEED_NAMES,
                    )
                )
    return params


# --------------------------------------------------------------------------------------------
# validation


def validate_params(prompt: dict[str, Any], object_info: dict[str, Any]) -> list[NodeInputError]:
    """Literal values the server would refuse: wrong type, out of range, not among the choices.

    The kinds and messages follow the server's own (``value_smaller_than_min``,
    ``value_bigger_than_max``, ``value_not_in_list``, ``invalid_input_type``).
    """
    errors: list[NodeInputError] = []
    for node_id, node in prompt.items():
        class_type = str(node.get("class_type", ""))
        specs = _specs(object_info, class_type)
        title = node_title(node)
        for name, value in (node.get("inputs") or {}).items():
            spec = specs.get(name)
            if spec is None or is_link(value):
                continue
            err = _check_value(node_id, class_type, title, name, value, spec)
            if err is not None:
                errors.append(err)
    return errors


def _check_value(
    node_id: str, class_type: str, title: str, name: str, value: Any, spec: list[Any]
) -> NodeInputError | None:
    kind = spec_kind(spec)
    opts = spec_options(spec)

    def err(k: str, message: str, details: str) -> NodeInputError:
        return NodeInputError(
            node_id=node_id,
            class_type=class_type,
            kind=k,
            message=message,
            input_name=name,
            details=details,
            title=title,
        )

    if kind in ("INT", "FLOAT"):
        if isinstance(value, dict) or isinstance(value, list):
            return err("invalid_input_type", "Failed to convert an input value to a " + kind, f"{name}")
        try:
            number = int(value) if kind == "INT" else float(value)
            if not math.isfinite(number):
                raise ValueError(number)
        except (TypeError, ValueError, OverflowError):
            return err(
                "invalid_input_type",
                f"Failed to convert an input value to a {kind} value",
                f"{name}, {value!r}",
            )
        lo, hi = opts.get("min"), opts.get("max")
        if isinstance(lo, (int, float)) and number < lo:
            return err("value_smaller_than_min", f"Value {number} smaller than min of {lo}", name)
        if isinstance(hi, (int, float)) and number > hi:
            return err("value_bigger_than_max", f"Value {number} bigger than max of {hi}", name)
        return None
    if kind == "COMBO":
        if isinstance(value, dict):  # {"__value__": [...]} multiselect
            return None
        choices = combo_choices(spec)
        if value not in choices:
            shown = choices if len(choices) <= 12 else choices[:12] + ["..."]
            return err("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {shown}")
        return None
    return None


# --------------------------------------------------------------------------------------------
# seeds


def seed_inputs(prompt: dict[str, Any], object_info: dict[str, Any] | None) -> list[tuple[str, str]]:
    """``(node_id, input_name)`` of every literal seed-like INT input."""
    found: list[tuple[str, str]] = []
    for node_id, node in prompt.items():
        specs = _specs(object_info, str(node.get("class_type", "")))
        for name, value in (node.get("inputs") or {}).items():
            if is_link(value) or isinstance(value, bool) or not isinstance(value, int):
                continue
            spec = specs.get(name)
            if spec is None and specs:
                continue
            if is_seed_like(name, spec):
                found.append((node_id, name))
    return found


def next_seed(value: int, mode: str, index: int, lo: int, hi: int, rng: random.Random) -> int:
    """One seed for job ``index`` (0 = the first) under a control_after_generate ``mode``."""
    if mode == "fixed":
        return value
    if mode in ("increment", "decrement"):
        span = hi - lo + 1
        delta = index if mode == "increment" else -index
        return lo + (value - lo + delta) % span
    if mode == "randomize":
        r_lo, r_hi = max(lo, -_RANDOM_LIMIT), min(hi, _RANDOM_LIMIT)
        if r_hi < r_lo:
            r_lo, r_hi = lo, hi
        return rng.randint(r_lo, r_hi)
    raise InputError(f"unknown seed mode '{mode}': expected one of {', '.join(SEED_MODES)}")


def apply_seed_mode(
    prompt: dict[str, Any],
    mode: str,
    index: int,
    object_info: dict[str, Any] | None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """A copy of ``prompt`` with every seed-like input changed for job ``index`` of a batch.

    ``fixed`` keeps the value; ``increment``/``decrement`` add/subtract ``index``, wrapping within
    the input's [min, max]; ``randomize`` draws a value in [min, max] (capped at ±2^50 like the
    frontend) from ``rng``.
    """
    if mode not in SEED_MODES:
        raise InputError(f"unknown seed mode '{mode}': expected one of {', '.join(SEED_MODES)}")
    rng = rng or random.Random()
    out = copy.deepcopy(prompt)
    if mode == "fixed":
        return out
    for node_id, name in seed_inputs(out, object_info):
        node = out[node_id]
        spec = _specs(object_info, str(node.get("class_type", ""))).get(name)
        opts = spec_options(spec) if spec else {}
        lo = opts.get("min", 0)
        hi = opts.get("max", 0xFFFFFFFFFFFFFFFF)
        lo, hi = int(lo), int(hi)
        node["inputs"][name] = next_seed(int(node["inputs"][name]), mode, index, lo, hi, rng)
    return out
