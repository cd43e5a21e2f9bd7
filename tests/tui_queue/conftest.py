"""Fixtures for the queue manager's dashboard tests: a config on the real ComfyUI and a folder
of API-format workflows that each sleep a little with their own seed (never cached)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfytui.core.config import Config, QueueSettings, ReconnectSettings, WorkflowSettings
from harness.comfy import sleep_prompt


def queue_config(url: str, flows: Path | None = None) -> Config:
    config = Config().with_server(url=url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
        queue=QueueSettings(dispatch_depth=0, heartbeat_s=0.5, stale_after_s=5.0),
        workflows=WorkflowSettings(dirs=[str(flows)] if flows else []),
    )


def write_flows(folder: Path, names: list[str], seconds: float = 1.0) -> dict[str, int]:
    """One sleeping workflow per name (``zq-a.json``...: sorted last, after the bundled ones);
    returns each file's seed, which identifies its runs in ComfyUI's /history."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {}
    for name in names:
        prompt = sleep_prompt(seconds)
        (folder / name).write_text(json.dumps(prompt))
        seeds[name] = prompt["1"]["inputs"]["seed"]
    return seeds


def runs_by_seed(url: str) -> list[tuple[float, int]]:
    """(queue number, seed) of every sleep job ComfyUI ran, in the order it ran them."""
    import httpx

    history = httpx.get(f"{url}/history", params={"max_items": 500}, timeout=10).json()
    runs = []
    for entry in history.values():
        node = entry["prompt"][2].get("1") or {}
        if node.get("class_type") == "ComfyTUISleep" and entry["status"].get("status_str") == "success":
            runs.append((entry["prompt"][0], node["inputs"]["seed"]))
    return sorted(runs)


def local_rows(app) -> list[tuple[str, str]]:  # noqa: ANN001 - a ComfyTuiApp
    """The Queue pane's rows as (label, kind)."""
    from comfytui.tui.widgets.queue_pane import QueuePane

    return [(row.label.plain, row.kind) for row in app.query_one(QueuePane).rows]


async def pause_and_queue(pilot, app, names: list[str]) -> None:  # noqa: ANN001
    """Once connected and dispatching: pause the local queue (``2``, ``p``) and queue each workflow
    of ``names`` with ``r``, so they wait in the local queue in that order."""
    from harness.app import screen_text, select_workflow, wait_until

    await wait_until(pilot, lambda: app.session.connection.state == "connected", timeout=30, what="the connection")
    await wait_until(pilot, lambda: app.dispatch is not None and app.dispatch.ours, what="the dashboard dispatching")
    await pilot.press("2", "p")
    await wait_until(pilot, lambda: "queue paused" in screen_text(app), what="the paused banner")
    for name in names:
        select_workflow(app, name)
        await pilot.press("r")
        await wait_until(pilot, lambda n=name: (n, "local") in local_rows(app), what=f"{name} in the local queue")


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    return tmp_path / "flows"
