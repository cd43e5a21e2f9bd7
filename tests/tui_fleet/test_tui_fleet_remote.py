"""The dashboard with ``--server remote``: a server whose container lives on another host, reached
through comfytui's own SSH tunnel to that host's podman (docs/FLEET.md). The Server screen (``s``)
shows the remote container's log."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest
import tomli_w

from comfytui.cli import apply_cli_overrides, dashboard_servers
from comfytui.core.config import load_config
from comfytui.tui.app import ComfyTuiApp
from comfytui.tui.screens.server import ServerScreen
from comfytui.tui.widgets.log_pane import LogPane
from harness.app import screen_text, wait_until
from harness.podman import free_port

pytestmark = pytest.mark.podman


def _diagnosis(app: ComfyTuiApp, caplog: pytest.LogCaptureFixture) -> str:
    """What the lifecycle manager, its tunnel and every thread were doing (for a rare timeout)."""
    import sys
    import threading
    import traceback

    manager = app.lifecycle
    backend = getattr(manager, "backend", None)
    tunnel = getattr(backend, "_tunnel", None)
    proc = getattr(tunnel, "_proc", None)
    lines = [
        f"status={getattr(manager, 'status', None)} error={getattr(manager, 'error', None)} busy={getattr(manager, 'busy', None)}",
        f"client={getattr(backend, '_client', None)} tunnel ssh exit={proc.poll() if proc else 'no process'}",
        *(f"log {r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records[-40:]),
    ]
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        where = "".join(traceback.format_stack(frame, limit=6)) if frame else ""
        lines.append(f"thread {thread.name}:\n{where}")
    return "\n".join(lines)


async def test_server_screen_shows_the_remote_containers_log(remote_host, comfytui_home, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="comfytui.core.lifecycle")
    service, sshd = remote_host.service, remote_host.sshd
    name = f"ctui-tui-remote-{os.getpid()}"
    marker = f"hello from the remote host {os.getpid()}"
    ref = f"{remote_host.image}:{remote_host.tag}"
    service.podman("pull", ref)
    service.podman("run", "-d", "--name", name, "--network", "host", ref, "sh", "-c", f"echo '{marker}'; sleep 600")
    path = tmp_path / "fleet.toml"
    path.write_text(tomli_w.dumps({
        "server": {"url": f"http://127.0.0.1:{free_port()}"},
        "servers": {"remote": {"url": f"http://127.0.0.1:{free_port()}", "backend": "container", "container": {
            "socket": remote_host.socket_url, "name": name, "image": remote_host.image, "tag": remote_host.tag,
            "network": "host", "gpu": "none", "identity": str(sshd.client_key),
            "ssh_options": [f"UserKnownHostsFile={sshd.known_hosts}", "StrictHostKeyChecking=yes"],
        }}},
    }))
    args = argparse.Namespace(server_name="remote", url=None, urls=None, timeout=None, header=[])
    config = apply_cli_overrides(load_config(str(path)), args)  # what `comfytui --server remote` opens
    servers = dashboard_servers(args, config)
    assert servers is not None and [n for n, _ in servers] == ["default", "remote"]
    try:
        app = ComfyTuiApp(config, servers=servers)
        async with app.run_test(size=(140, 44)) as pilot:
            assert app.server_name == "remote"
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="the Server screen")
            log_view = app.screen.query_one("#server-log", LogPane).view
            try:
                await wait_until(
                    pilot, lambda: any(marker in line.text for line in log_view.lines), timeout=40,
                    what="the remote container's log line",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{_diagnosis(app, caplog)}") from None
            assert marker in screen_text(app)
            # the status is read over the same tunnel, independently of the log: it may come second
            await wait_until(pilot, lambda: "running" in screen_text(app), timeout=20, what="the remote container running")
    finally:
        service.podman("rm", "-f", "-t", "0", name, check=False)
