"""Real components the suite needs (ComfyUI, podman, tmux...): skip locally, fail in CI.

Every test or fixture that needs something outside Python calls :func:`require`. On a developer's
machine a missing component skips the test with the way to install it; under ``CI=true`` (or
``CI=1`` or ``CI=yes``) it is a failure, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(component: str, available: bool, how_to_install: str) -> None:
    """Return if ``available``; else skip (locally) or fail (under CI) with ``how_to_install``."""
    if available:
        return
    missing(component, how_to_install)


def missing(component: str, how_to_install: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{component} not available under CI (CI must not skip): {how_to_install}", pytrace=False)
    pytest.skip(f"{component} not available: {how_to_install}")
