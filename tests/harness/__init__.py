"""Shared test harness: real components (ComfyUI on CPU, ...) and the skip-or-fail rule.

Import as ``from harness.components import require`` and ``from harness.comfy import ComfyServer``
(``tests/conftest.py`` puts ``tests/`` on ``sys.path``).
"""

from .comfy import ComfyServer, ComfyServerError, fail_prompt, progress_prompt, sleep_prompt, unique_seed
from .components import in_ci, require

__all__ = [
    "ComfyServer",
    "ComfyServerError",
    "fail_prompt",
    "in_ci",
    "progress_prompt",
    "require",
    "sleep_prompt",
    "unique_seed",
]
