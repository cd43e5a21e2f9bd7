"""Helpers of the workflow UI tests (a unique module name: test folders share sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable


async def wait_until(pilot, predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` is true; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
