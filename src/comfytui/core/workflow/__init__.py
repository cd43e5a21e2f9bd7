"""Workflows: loading files and images, editor → API conversion, parameters and seeds.

UI-free: nothing here imports Textual or Rich.
"""

from __future__ import annotations

from comfytui.core.workflow.convert import ConversionResult, WidgetSlot, editor_to_api, widget_layout
from comfytui.core.workflow.load import LoadedWorkflow, load_workflow_file, parse_workflow_json
from comfytui.core.workflow.params import (
    SEED_MODES,
    Param,
    apply_overrides,
    apply_seed_mode,
    editable_params,
    seed_inputs,
    validate_params,
)
from comfytui.core.workflow.pnginfo import ImageMetadata, read_image_metadata

__all__ = [
    "SEED_MODES",
    "ConversionResult",
    "ImageMetadata",
    "LoadedWorkflow",
    "Param",
    "WidgetSlot",
    "apply_overrides",
    "apply_seed_mode",
    "editable_params",
    "editor_to_api",
    "load_workflow_file",
    "parse_workflow_json",
    "read_image_metadata",
    "seed_inputs",
    "validate_params",
    "widget_layout",
]
