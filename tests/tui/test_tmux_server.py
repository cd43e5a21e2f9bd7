"""The Server screen in a real terminal (tmux 120x40) on a real podman engine: start with the
phases, container logs followed and filtered in the dashboard's log pane, stop with y/N."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from harness.podman import (
    PodmanService,
    free_port,
)
from harness.podman_fixtures import podman_service  # noqa: F401 (fixture)
from harness.tmux import TmuxSession

REPO = Path(__file__).resolve().parents[2]
COMFYTUI = str(REPO / ".venv" / "bin" / "comfytui")
pytestmark = [pytest.mark.podman, pytest.mark.tmux, pytest.mark.comfy]
_names = itertools.count()


def test_server_screen_starts_shows_phases_follows_logs_and_stop_asks(
    tmux: TmuxSession, podman_service: PodmanService, comfy_server, tmp_path: Path
) -> None:
    name = f"ctui-tmux-{os.getpid()}-{next(_names)}"
    port = free_port()
    ticker = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""backend = "container"
[server]
url = "{comfy_server.url}"
[container]
socket = "{podman_service.uri}"
image = "localhost/busybox"
tag = "test"
name = "{name}"
port = {port}
container_port = {port}
network = "host"
gpu = "none"
storage = "{tmp_path / 'storage'}"
command = ["/bin/sh", "-c", "{ticker}"]
stop_timeout_s = 2
startup_timeout_s = 120
"""
    )
    env = {"COMFYTUI_HOME": str(tmp_path / "home"), "COMFYTUI_CONFIG": str(config), "TERM": "xterm-256color"}
    try:
        tmux.start([COMFYTUI], env)
        tmux.wait_for("● connected", timeout=60)
        print("PANE", tmux._tmux("display", "-p", "#{pane_width}x#{pane_height}"))
        tmux.wait_for("◆ container absent", timeout=20)
        tmux.keys("s")
        screen = tmux.wait_for("not created", timeout=20)
        assert f"127.0.0.1:{port}" in screen  # the spec's loopback binding (host network drops it)
        tmux.keys("u")
        screen = tmux.wait_for("✔ running", timeout=60)
        assert "✔ created" in screen
        tmux.wait_for("… HTTP", timeout=20)  # waiting for ComfyUI's HTTP, with the latest log line
        tmux.wait_for("tick 5", timeout=20)
        tmux.keys("Escape")  # cancels the wait for HTTP; the container keeps running
        tmux.wait_for("cancelled", timeout=20)
        tmux.keys("Escape")  # back to the dashboard
        screen = tmux.wait_for("Workflows [1]", timeout=10)
        tmux.wait_for("◆ container running", timeout=20)
        tmux.keys("4", "/")
        tmux.wait_for("filter logs (Enter to apply", timeout=10)
        for key in ["t", "i", "c", "k", " ", "1", "2"]:
            tmux.keys(key if key != " " else "Space")
        tmux.keys("Enter")
        screen = tmux.wait_for("filter 'tick 12'", timeout=10)
        logs = screen[screen.index("Logs [4]") :]
        assert "tick 13" not in logs and "tick 12" in logs
        tmux.keys("s", "S")
        tmux.wait_for("y = yes", timeout=10)
        tmux.keys("n")
        tmux.wait_gone("y = yes", timeout=10)
        assert podman_service.podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
        tmux.keys("S")
        tmux.wait_for("y = yes", timeout=10)
        tmux.keys("y")
        tmux.wait_for("exited", timeout=30)
        assert podman_service.podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "false"
        tmux.keys("Escape")
        tmux.wait_for("Workflows [1]", timeout=10)
        tmux.keys("q")
        assert tmux.exit_status() == 0
    finally:
        podman_service.podman("rm", "-f", "-t", "0", name, check=False)
