"""The headless lifecycle commands end to end: the real ``comfytui`` binary in a subprocess, a config
file pointing at the test podman engine, ``COMFYTUI_HOME`` isolating everything else."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from comfytui.core.config import ContainerSettings
from harness.podman import PodmanService, Registry, comfy_container_values

pytestmark = pytest.mark.podman

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))


def write_config(path: Path, settings: ContainerSettings, **top) -> Path:
    section = {k: v for k, v in settings.__dict__.items() if v not in ("", [], {})}
    path.write_text(tomli_w.dumps({"backend": "container", **top, "container": section}))
    return path


def cli(home: Path, config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMFYTUI_HOME": str(home), "COMFYTUI_CONFIG": str(config)}
    env.pop("COMFYTUI_PODMAN_SOCKET", None)
    return subprocess.run(
        [COMFYTUI, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_socket_absent_is_a_clear_error_without_traceback(tmp_path: Path):
    config = write_config(tmp_path / "c.toml", ContainerSettings(socket=str(tmp_path / "missing.sock")))
    for args in (["status"], ["up", "--yes"], ["logs"], ["down"]):
        out = cli(tmp_path, config, *args)
        assert out.returncode == 3, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert "systemctl --user enable --now podman.socket" in out.stderr
    out = cli(tmp_path, config, "preflight")
    assert out.returncode == 3 and "FAIL podman" in out.stdout


def test_bad_config_exits_2(tmp_path: Path):
    config = tmp_path / "c.toml"
    # backend "container": with the default "none" the [container] table is not read by `status`
    config.write_text('backend = "container"\n[container]\nextra_mounts = ["relative"]\n')
    out = cli(tmp_path, config, "status")
    assert out.returncode == 2 and "extra_mounts" in out.stderr and "Traceback" not in out.stderr
    config.write_text('backend = "container"\n[container]\nport = 70000\n')
    assert cli(tmp_path, config, "status").returncode == 2
    config.write_text(f'[container]\nsocket = "{tmp_path}/none.sock"\n')
    out = cli(tmp_path, config, "logs", "--since", "yesterday")
    assert out.returncode == 2 and "--since" in out.stderr


def test_up_preflight_port_taken_and_exit_during_startup(busybox_settings, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        settings = busybox_settings(port=port, container_port=port, command=["sh", "-c", "echo hi; exit 7"])
        config = write_config(tmp_path / "c.toml", settings)
        out = cli(tmp_path, config, "preflight")
        assert out.returncode == 2 and "FAIL port" in out.stdout and "already in use" in out.stdout
        out = cli(tmp_path, config, "up")
        assert out.returncode == 2 and "already in use" in out.stderr
    settings = busybox_settings(command=["sh", "-c", "echo starting; echo 'fatal: boom' >&2; exit 7"])
    config = write_config(tmp_path / "c.toml", settings)
    out = cli(tmp_path, config, "up", "--yes")
    assert out.returncode == 3, out.stderr
    assert "startup failed" in out.stderr and "exit code 7" in out.stderr and "fatal: boom" in out.stderr
    assert "Traceback" not in out.stderr
    status = json.loads(cli(tmp_path, config, "status", "--json").stdout)
    assert status["state"] == "exited" and status["exit_code"] == 7
    assert cli(tmp_path, config, "down", "--remove").returncode == 0
    assert json.loads(cli(tmp_path, config, "status", "--json").stdout)["state"] == "absent"


def test_restart_and_recreate_on_spec_change(busybox_settings, tmp_path: Path):
    settings = busybox_settings(command=["sleep", "1000"])
    config = write_config(tmp_path / "c.toml", settings)
    out = cli(tmp_path, config, "restart", "--no-wait")
    assert out.returncode == 2 and "comfytui up" in out.stderr  # nothing to restart yet
    try:
        out = cli(tmp_path, config, "up", "--startup-timeout", "1")  # sleep never answers HTTP
        assert out.returncode == 3 and "did not answer" in out.stderr
        before = json.loads(cli(tmp_path, config, "status", "--json").stdout)
        assert before["state"] == "running"
        out = cli(tmp_path, config, "restart", "--no-wait", "-t", "1")
        assert out.returncode == 0, out.stderr
        after = json.loads(cli(tmp_path, config, "status", "--json").stdout)
        assert after["state"] == "running" and after["started_at"] > before["started_at"]

        # the spec changed: stdin is not a tty, so the diff is printed and the container recreated
        write_config(config, ContainerSettings(**{**settings.__dict__, "cli_args": "--fast"}))
        out = cli(tmp_path, config, "up", "--startup-timeout", "1")
        assert "CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast --cpu --listen 127.0.0.1'" in out.stderr and "recreating" in out.stderr
        recreated = json.loads(cli(tmp_path, config, "status", "--json").stdout)
        assert recreated["id"] != after["id"] and recreated["state"] == "running"
        out = cli(tmp_path, config, "up", "--startup-timeout", "1")
        assert "differs" not in out.stderr
    finally:
        cli(tmp_path, config, "down", "--remove", "-t", "0")


def test_pull_prints_progress_on_stderr(
    busybox_settings, podman_service: PodmanService, registry: Registry, tmp_path
):
    remote = registry.push(podman_service, "localhost/busybox:test", "bb:headless")
    name, tag = remote.rsplit(":", 1)
    config = write_config(tmp_path / "c.toml", busybox_settings(image=name, tag=tag))
    try:
        out = cli(tmp_path, config, "pull")
        assert out.returncode == 0, out.stderr
        assert f"pulling {remote}" in out.stderr and f"pulled {remote}" in out.stderr
        assert "Pulling fs layer" in out.stderr or "Download complete" in out.stderr
        assert out.stdout == ""
        out = cli(tmp_path, config, "pull", f"{name}:missing")
        assert out.returncode == 3 and "manifest unknown" in out.stderr
    finally:
        podman_service.podman("rmi", "-f", remote, check=False)


@pytest.mark.comfy
def test_up_status_logs_down_with_the_real_comfyui(
    comfy, podman_service: PodmanService, tmp_path: Path, unique_name: str
):
    settings = ContainerSettings(
        **comfy_container_values(comfy, podman_service.uri, tmp_path / "base", unique_name)
    )
    config = write_config(tmp_path / "c.toml", settings)
    try:
        out = cli(tmp_path, config, "up")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"http://127.0.0.1:{settings.port}"
        for phase in ("pulled", "created", "running", "http_ready", "ws_connected"):
            assert f"] {phase}:" in out.stderr
        assert "CPU mode" in out.stderr

        status = json.loads(cli(tmp_path, config, "status", "--json").stdout)
        assert status["state"] == "running" and status["managed"] and status["backend"] == "container"
        assert status["url"] == f"http://127.0.0.1:{settings.port}" and status["network_mode"] == "host"
        assert status["image"] == "localhost/busybox:test" and status["uptime_s"] >= 0
        assert {
            "source": str(tmp_path / "base"),
            "destination": str(tmp_path / "base"),
            "read_only": False,
            "kind": "bind",
        } in status["mounts"]
        human = cli(tmp_path, config, "status")
        assert human.returncode == 0 and "running" in human.stdout

        out = cli(tmp_path, config, "logs", "--tail", "5")
        assert out.returncode == 0 and len(out.stdout.splitlines()) == 5
        out = cli(tmp_path, config, "logs", "--since", "10m", "--timestamps")
        assert "To see the GUI go to" in out.stdout

        # follow: prints, keeps running, stops on Ctrl-C without a traceback
        env = {**os.environ, "COMFYTUI_HOME": str(tmp_path), "COMFYTUI_CONFIG": str(config)}
        follow = subprocess.Popen(
            [COMFYTUI, "logs", "-f", "--tail", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = follow.stdout.readline()
        assert first  # a line, not EOF
        time.sleep(0.3)
        assert follow.poll() is None
        follow.send_signal(signal.SIGINT)
        _, err = follow.communicate(timeout=10)
        assert "Traceback" not in err

        # already up: nothing to change, quick
        out = cli(tmp_path, config, "up")
        assert out.returncode == 0 and "differs" not in out.stderr

        out = cli(tmp_path, config, "down")
        assert out.returncode == 0, out.stderr
        assert json.loads(cli(tmp_path, config, "status", "--json").stdout)["state"] == "exited"
        assert cli(tmp_path, config, "down", "--remove").returncode == 0
        assert json.loads(cli(tmp_path, config, "status", "--json").stdout)["state"] == "absent"
    finally:
        podman_service.podman("rm", "-f", "-t", "0", unique_name, check=False)
