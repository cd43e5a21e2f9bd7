"""README command 1 for a newcomer: ``scripts/run`` with no config makes the local CPU ComfyUI a
``process`` server that comfytui manages (issue 11): the config is written, ``comfytui up`` starts
the server, the dashboard connects, the Server screen knows the process and restarts it, and the
process log reaches the Logs pane.

Runs in tmux with a private COMFYTUI_HOME (config, state) and a private COMFY_CPU_BASE (the
server's models/output/custom_nodes), so the user's own config and server are never touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from harness.comfy import ensure_installed, free_port
from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = REPO / ".venv" / "bin" / "comfytui"
pytestmark = [pytest.mark.comfy, pytest.mark.tmux]


def test_scripts_run_without_a_config_manages_the_local_comfyui_as_a_process(tmux: TmuxSession, tmp_path: Path) -> None:
    ensure_installed()
    home, base = tmp_path / "home", tmp_path / "comfy-base"
    env = {"COMFYTUI_HOME": str(home), "COMFY_CPU_BASE": str(base), "COMFY_CPU_PORT": str(free_port()),
           "TERM": "xterm-256color"}
    down_env = {**os.environ, **env}
    try:
        tmux.start([str(REPO / "scripts" / "run")], env)
        screen = tmux.wait_for("● connected", timeout=180)
        assert "ComfyUI 0.3.75" in screen

        config = tomllib.loads((home / "config" / "config.toml").read_text())
        assert config["backend"] == "process"
        assert config["process"]["base_directory"] == str(base.resolve())
        url = config["server"]["url"]
        assert url == f"http://127.0.0.1:{env['COMFY_CPU_PORT']}" and url in screen
        # The process writes its log where comfytui's process backend keeps it, and the Logs
        # pane follows it.
        tmux.wait_for("To see the GUI go to", timeout=30)

        tmux.keys("s")
        screen = tmux.wait_for("pid", timeout=20)
        assert "process" in screen.lower()
        assert "does not manage" not in screen
        match = re.search(r"pid\s+(\d+)", screen)
        assert match, screen
        pid_before = int(match.group(1))

        tmux.keys("R")  # restart asks first
        tmux.wait_for("Restart comfyui?", timeout=10)
        tmux.keys("y")
        deadline, pid_after = time.monotonic() + 120, pid_before
        while time.monotonic() < deadline and pid_after == pid_before:
            time.sleep(0.5)
            match = re.search(r"pid\s+(\d+)", tmux.screen())
            pid_after = int(match.group(1)) if match else pid_before
        assert pid_after != pid_before, f"the restart did not bring up a new process:\n{tmux.screen()}"
    finally:
        subprocess.run([str(COMFYTUI), "down"], env=down_env, capture_output=True, timeout=60)
