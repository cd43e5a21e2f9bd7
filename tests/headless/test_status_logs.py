"""``comfytui status`` and ``comfytui logs`` when comfytui manages nothing (``backend = "none"``):
they speak to the server itself, a real CPU ComfyUI in these tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ports import free_port

pytestmark = pytest.mark.comfy

COMFYTUI = Path(sys.executable).with_name("comfytui")


def cli(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    env["COMFYTUI_BACKEND"] = "none"
    return subprocess.run(
        [str(COMFYTUI), *args], capture_output=True, text=True, timeout=timeout, env=env,
        stdin=subprocess.DEVNULL, cwd=home,
    )


def test_status_reports_the_servers_health_without_a_managed_backend(comfy_server, tmp_path: Path) -> None:
    out = cli(tmp_path, "status", "--url", comfy_server.url, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["backend"] == "none" and "state" not in report  # nothing managed: no container state
    server = report["server"]
    assert server["reachable"] and server["comfyui_version"] == "0.3.75"
    assert server["latency_ms"] >= 0 and set(server["queue"]) == {"running", "pending"}
    assert server["devices"] and server["devices"][0]["type"] == "cpu"
    human = cli(tmp_path, "status", "--url", comfy_server.url)
    assert human.returncode == 0 and "ComfyUI 0.3.75" in human.stdout and "queue:" in human.stdout
    assert "podman" not in human.stdout + human.stderr


def test_status_of_a_server_that_is_down_exits_3_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = cli(tmp_path, "status", "--url", url)
    assert out.returncode == 3 and "unreachable" in out.stdout and url in out.stdout


def test_logs_tail_reads_the_servers_own_log(comfy_server, tmp_path: Path) -> None:
    out = cli(tmp_path, "logs", "--url", comfy_server.url, "--tail", "5")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 5
    everything = cli(tmp_path, "logs", "--url", comfy_server.url)
    assert everything.returncode == 0 and out.stdout in everything.stdout
    assert "To see the GUI go to" in everything.stdout or "Starting server" in everything.stdout
