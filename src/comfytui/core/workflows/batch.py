"""Batches: the N prompts of one queueing, with seeds changed the way the frontend's
control_after_generate does (fixed, increment, decrement, randomize), and their labels.
"""

from __future__ import annotations

import random
import time
from typing import Any

from comfytui.core.errors import InputError
from comfytui.core.workflows.params import apply_seed_mode


def build_batch(
    prompt: dict[str, Any],
    count: int,
    seed_mode: str,
    object_info: dict[str, Any] | None,
    rng: random.Random | None = None,
) -> list[dict[str, Any]]:
    """The ``count`` prompts of a batch: job ``i`` has its seeds changed by ``seed_mode`` for index ``i``.

    The first job keeps the seeds shown in the form (like the frontend's "after" control mode).
    """
    if count < 1:
        raise InputError("the batch count must be at least 1")
    rng = rng or random.Random()
    return [apply_seed_mode(prompt, seed_mode, index, object_info, rng) for index in range(count)]


def batch_name(label: str, count: int, name: str = "") -> str:
    """The name jobs of one batch share: the user's, else ``label ×N HH:MM:SS``; ``""`` for one job."""
    if name.strip():
        return name.strip()
    if count <= 1:
        return ""
    return f"{label} ×{count} {time.strftime('%H:%M:%S')}"


def job_label(label: str, index: int, count: int) -> str:
    return label if count <= 1 else f"{label} #{index + 1}/{count}"
