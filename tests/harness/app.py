"""Helpers for whole-app tests: wait for a condition while the app runs; read the screen."""

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


def screen_text(app) -> str:
    """Everything the dashboard currently shows, as plain text (from its SVG screenshot)."""
    import re

    svg = app.export_screenshot()
    text = re.sub(r"<[^>]+>", "", svg)
    return (
        text.replace("&#160;", " ")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#x27;", "'")
    )


def select_workflow(app, name: str) -> None:
    """Highlight the Workflows pane's entry called ``name``."""
    from comfytui.tui.widgets.workflows_pane import WorkflowList

    workflows = app.query_one(WorkflowList)
    for index in range(workflows.option_count):
        option_id = workflows.get_option_at_index(index).id or ""
        if option_id.isdigit() and workflows.entries[int(option_id)].name == name:
            workflows.highlighted = index
            return
    raise AssertionError(f"{name} is not listed: {[e.name for e in workflows.entries]}")
