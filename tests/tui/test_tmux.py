"""comfytui in a real terminal (tmux, 120x40) against the real CPU ComfyUI, keys only."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harness.comfy import unique_seed
from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


def test_scripts_run_queue_progress_preview_history_and_a_clean_quit(tmux: TmuxSession, comfy_server_factory, tmp_path: Path) -> None:
    # A private server: the shared one's output folder holds other tests' PNGs, which the Workflows
    # pane lists after the user's folder (End would land on one of them).
    comfy_server = comfy_server_factory()
    # A private copy of the progress demo with a fresh seed, as the user's own workflow folder.
    flows = tmp_path / "flows"
    flows.mkdir()
    prompt = json.loads((REPO / "workflows" / "demo-progress.json").read_text())
    prompt["1"]["inputs"]["seed"] = unique_seed()
    prompt["1"]["inputs"]["steps"] = 30
    (flows / "aaa-demo.json").write_text(json.dumps(prompt))
    config = tmp_path / "config.toml"
    config.write_text(f'[workflows]\ndirs = ["{flows}"]\n[ui]\nimage_protocol = "auto"\n')
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "COMFYTUI_CONFIG": str(config), "TERM": "xterm-256color"}
    tmux.start([str(REPO / "scripts" / "run"), "--url", comfy_server.url], env)

    screen = tmux.wait_for("● connected", timeout=60)
    assert "ComfyUI 0.3.75" in screen
    # The Workflows pane has focus: bundled first, then the user folder (listed by a worker: wait
    # to see it, as a user would); go to the last entry.
    tmux.wait_for("aaa-demo.json")
    tmux.keys("End")
    tmux.keys("r")
    screen = tmux.wait_for("▶ aaa-demo.json", timeout=20)
    steps_seen = set()
    captioned = ""  # the preview caption while the job runs: a frame is on screen, with its step
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(steps_seen) < 3 or not captioned):
        screen = tmux.screen()
        match = re.search(r"steps .*? (\d+)/30", screen)
        if match:
            steps_seen.add(int(match.group(1)))
        if re.search(r"node 1 · step \d+/30", screen):  # a toast must not cover the caption either
            captioned = screen
        time.sleep(0.1)
    assert len(steps_seen) >= 3, f"the steps bar did not move: {steps_seen}"
    assert captioned, f"no preview frame with its step caption appeared while the job ran:\n{tmux.screen()}"
    assert "Preview [5] · halfcell" in captioned  # tmux has no graphics protocol: half blocks
    deadline = time.monotonic() + 60
    history = ""
    while time.monotonic() < deadline:  # the server's history holds other jobs too: find ours
        screen = tmux.screen()
        history = screen[screen.index("History [3]") :] if "History [3]" in screen else ""
        row = next((line for line in history.splitlines() if "aaa-demo.json" in line), "")
        if "success" in row and "demo_" in row:  # the output file name
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the job did not show as success with its output in History:\n{history}")
    tmux.keys("q")
    assert tmux.exit_status() == 0
    after = tmux.screen()
    assert "History [3]" not in after, "the alternate screen was not left"


def test_dashboard_survives_a_server_that_is_not_there(tmux: TmuxSession, tmp_path: Path) -> None:
    from harness.ports import free_port

    port = free_port()  # nothing listens there
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "TERM": "xterm-256color", "COMFY_RECONNECT_MAX_DELAY_S": "1"}
    tmux.start([str(REPO / ".venv" / "bin" / "comfytui"), "--url", f"http://127.0.0.1:{port}"], env)
    screen = tmux.wait_for("server down", timeout=30)
    assert "connection refused" in screen
    assert "Traceback" not in screen
    tmux.keys("?")
    tmux.wait_for("comfytui keys")
    tmux.keys("Escape")
    tmux.wait_gone("comfytui keys")
    tmux.keys("q")
    assert tmux.exit_status() == 0
