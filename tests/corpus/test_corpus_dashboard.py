"""The bad-input corpus through the dashboard: every broken workflow or image is listed, and `r`
on it says what is wrong, naming the file; nothing is sent, and the dashboard keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.worker import WorkerState

from comfytui.core.config import Config, ReconnectSettings, WorkflowSettings
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.widgets.workflows_pane import WorkflowList
from harness.app import screen_text, wait_until

pytestmark = pytest.mark.comfy

FILES = Path(__file__).resolve().parent / "files"
BROKEN = sorted(p.name for p in (FILES / "workflows").iterdir()) + sorted(
    p.name for p in (FILES / "images").iterdir())


async def test_every_broken_workflow_and_image_is_refused_by_name(comfy_server, comfytui_home) -> None:
    config = Config().with_server(url=comfy_server.url).replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(Config().ui)(image_protocol="halfcell"),
        workflows=WorkflowSettings(dirs=[str(FILES / "workflows"), str(FILES / "images")]),
    )
    app = ComfyTuiApp(config)
    said: list[tuple[str, str]] = []
    notify = app.notify

    def recording_notify(message, *args, **kwargs):
        said.append((str(message), str(kwargs.get("severity", ""))))
        return notify(message, *args, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    async with app.run_test(size=(140, 44), notifications=True) as pilot:
        await wait_until(pilot, lambda: app.session.connection.state == "connected", what="the connection")
        workflows = app.query_one(WorkflowList)
        await wait_until(pilot, lambda: {e.name for e in workflows.entries} >= set(BROKEN), timeout=30,
                         what="every corpus file listed")
        jobs_before = set(app.session.book.jobs)
        for name in BROKEN:
            index = next(i for i in range(workflows.option_count)
                         if (oid := workflows.get_option_at_index(i).id or "").isdigit()
                         and workflows.entries[int(oid)].name == name)
            workflows.focus()
            workflows.highlighted = index
            count = len(said)
            await pilot.press("r")
            await wait_until(pilot, lambda count=count: len(said) > count, timeout=15, what=f"a message about {name}")
            message, severity = said[-1]
            assert name in message or Path(name).stem in message, f"{name}: {message!r}"
            assert severity == "error", f"{name}: {severity} {message!r}"
            assert "Traceback" not in message
        await pilot.pause(0.5)
        # the shared server's history brings other tests' jobs into the book: look for ours by label
        sent = [j.label for pid, j in app.session.book.jobs.items()
                if pid not in jobs_before and (j.label or "").split(" #")[0] in set(BROKEN)]
        assert sent == [], f"broken files were sent to the server: {sent}"
        assert "● connected" in screen_text(app)
        session = [w for w in app.workers if w.group == "comfy-session"]
        assert session and session[0].state == WorkerState.RUNNING
        assert not [w for w in app.workers if w.state == WorkerState.ERROR]


@pytest.mark.parametrize("name", sorted(p.name for p in (FILES / "configs").iterdir()))
def test_the_dashboard_refuses_a_broken_config_naming_the_file(name: str, tmp_path: Path) -> None:
    """`comfytui --config BAD` (the dashboard) stops before drawing anything, with file:line."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(tmp_path)
    path = FILES / "configs" / name
    proc = subprocess.run([sys.executable, "-m", "comfytui", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert "\x1b[?1049h" not in proc.stdout  # never entered the alternate screen
