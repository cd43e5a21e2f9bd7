"""The parameter form's domain work, without any UI: load a workflow for editing, parse and check
what the user typed, and apply the edits.

``await load_form(entry, client, object_info_ttl_s=...)`` fetches ``/object_info`` (cached per
server and TTL), loads the entry, converts an editor-format graph to the API format (in a thread),
finds the editable inputs and the installed models for loader inputs. The result, ``FormData``,
knows each input's choices (``choices_for``), parses a typed value (``parse_value``) and builds the
edited prompt (``apply_edits``). The TUI's form only renders it and turns keys into intents.
"""

from __future__ import annotations

import asyncio
import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from comfytui.core.workflows.params import Param, editable_params
from comfytui.core.workflows.preflight import fetch_models_by_folder, model_folder
from comfytui.core.workflows.prompts import DEFAULT_CACHE, ObjectInfoCache

if TYPE_CHECKING:
    from comfytui.core.comfy.client import ComfyClient
    from comfytui.core.workflows.library import WorkflowEntry
    from comfytui.core.workflows.load import LoadedWorkflow

FALLBACK_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "width": (64, 4096),
    "height": (64, 4096),
    "steps": (1, 150),
    "cfg": (0.1, 20.0),
    "seed": (0, None),
    "noise_seed": (0, None),
}
"""Limits where the server gives none: the seed integration's text-to-image limits."""


def field_limits(param: Param) -> tuple[float | None, float | None]:
    lo, hi = FALLBACK_LIMITS.get(param.input_name, (None, None))
    return (param.min if param.min is not None else lo, param.max if param.max is not None else hi)


def format_number(number: float | None) -> str:
    """``12`` for whole numbers, ``0.5`` otherwise, ``""`` for None."""
    if number is None:
        return ""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def parse_value(param: Param, raw: Any, choices: tuple[Any, ...] | None = None) -> tuple[Any, str | None]:
    """``(value, error)`` for what the user entered (``raw`` None: nothing chosen); ``error`` is the
    message to show next to the input, or None."""
    kind = param.kind
    if kind in ("INT", "FLOAT"):
        text = str(raw).strip()
        try:
            value: Any = int(text) if kind == "INT" else float(text)
        except ValueError:
            what = "a whole number" if kind == "INT" else "a number"
            return raw, f"not {what}: '{text}'" if text else f"enter {what}"
        if kind == "FLOAT" and not math.isfinite(value):
            return raw, "enter a finite number"
        lo, hi = field_limits(param)
        if lo is not None and value < lo:
            return value, f"{format_number(value)} is below the minimum {format_number(lo)}"
        if hi is not None and value > hi:
            return value, f"{format_number(value)} is above the maximum {format_number(hi)}"
        return value, None
    if kind == "COMBO":
        options = choices if choices is not None else (param.choices or ())
        if raw is None:
            return None, "choose a value"
        if options and raw not in options:
            return raw, f"'{raw}' is not among the server's {len(options)} choices"
        if not options:
            return raw, f"'{raw}': the server offers no choices here (nothing installed?)"
        return raw, None
    if kind == "BOOLEAN":
        return bool(raw), None
    return str(raw), None


def is_edit(param: Param, value: Any) -> bool:
    """True when ``value`` differs from the workflow's own (a type change counts: 1 vs 1.0)."""
    return value != param.value or type(value) is not type(param.value)


def apply_edits(prompt: Mapping[str, Any], edits: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of ``prompt`` with ``{node id: {input: value}}`` written into the nodes' inputs."""
    edited = copy.deepcopy(dict(prompt))
    for node_id, changes in edits.items():
        edited[node_id].setdefault("inputs", {}).update(changes)
    return edited


@dataclass
class FormData:
    """A workflow ready for editing: its API prompt, the inputs to edit and their choices."""

    loaded: LoadedWorkflow
    base_prompt: dict[str, Any]
    object_info: dict[str, Any]
    params: list[Param]
    models_by_folder: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What the conversion from the editor format noted."""

    def choices_for(self, param: Param) -> tuple[Any, ...] | None:
        """A combo's choices: the server's, plus the installed models for a loader input."""
        if param.kind != "COMBO":
            return None
        choices = list(param.choices or ())
        folder = model_folder(param.class_type, param.input_name)
        if folder and folder in self.models_by_folder:
            choices += [m for m in self.models_by_folder[folder] if m not in choices]
        return tuple(choices)


_CACHES: dict[float, ObjectInfoCache] = {}


def object_info_cache(ttl_s: float) -> ObjectInfoCache:
    """One ``ObjectInfoCache`` per TTL for the process (the default one for the default TTL)."""
    if ttl_s == DEFAULT_CACHE.ttl_s:
        return DEFAULT_CACHE
    if ttl_s not in _CACHES:
        _CACHES[ttl_s] = ObjectInfoCache(ttl_s)
    return _CACHES[ttl_s]


async def load_form(entry: WorkflowEntry, client: ComfyClient, *, object_info_ttl_s: float) -> FormData:
    """Load ``entry`` for the form (raises ``ComfyTuiError`` with a message for the user)."""
    from comfytui.core.workflows.convert import editor_to_api
    from comfytui.core.workflows.sources import load_entry

    object_info = await object_info_cache(object_info_ttl_s).get(client)
    loaded = await load_entry(entry, client)
    warnings: list[str] = []
    if loaded.prompt is not None and loaded.format == "api":
        prompt = loaded.prompt
    elif loaded.workflow is not None:
        result = await asyncio.to_thread(editor_to_api, loaded.workflow, object_info)
        prompt = result.prompt
        warnings = list(result.warnings)
    else:
        prompt = loaded.prompt or {}
    base_prompt = copy.deepcopy(prompt)
    params = editable_params(base_prompt, object_info)
    folders = {f for p in params if p.kind == "COMBO" and (f := model_folder(p.class_type, p.input_name))}
    models_by_folder = await fetch_models_by_folder(client, folders)
    return FormData(loaded, base_prompt, object_info, params, models_by_folder, warnings)
