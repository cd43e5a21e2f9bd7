"""A server of the fleet on another host: ``[servers.NAME.container] socket = "ssh://..."``.

The other host is a second podman engine whose socket only sshd can reach (a real OpenSSH server
on loopback, key auth). ``comfytui pull/up/status/logs/down --server remote`` go through comfytui's
SSH tunnel to it; the engine itself is then asked (its own CLI, on its own storage) what it holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from harness.podman import PodmanService, comfy_container_values, free_port

pytestmark = pytest.mark.podman

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))


def cli(home: Path, config: Path, *args: str, timeout: float = 180, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COMFYTUI_HOME": str(home), "COMFYTUI_CONFIG": str(config), **(env or {})}
    environ.pop("COMFYTUI_PODMAN_SOCKET", None)
    return subprocess.run(
        [COMFYTUI, *args], env=environ, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def write_fleet(path: Path, remote_url: str, container: dict[str, Any]) -> Path:
    section = {k: v for k, v in container.items() if v not in ("", [], {})}
    path.write_text(tomli_w.dumps({
        "server": {"url": f"http://127.0.0.1:{free_port()}"},  # the local "default" server, unused
        "servers": {"remote": {"url": remote_url, "backend": "container", "container": section}},
    }))
    return path


def remote_state(service: PodmanService, name: str) -> dict[str, Any] | None:
    out = service.podman("container", "inspect", name, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


@pytest.mark.comfy
def test_up_logs_status_down_on_a_remote_host_over_ssh(remote_host, comfy, tmp_path: Path):
    service, sshd = remote_host.service, remote_host.sshd
    name = f"ctui-remote-{os.getpid()}"
    values = comfy_container_values(comfy, remote_host.socket_url, tmp_path / "base", name)
    values.update(
        image=remote_host.image,
        tag=remote_host.tag,
        identity=str(sshd.client_key),
        # the test's own known_hosts (holding sshd's host key): nothing is written to ~/.ssh
        ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}", "StrictHostKeyChecking=yes"],
    )
    # the data folders are on the other host: comfytui does not create them there, its user does
    storage = Path(str(values["storage"]))
    folders = [storage / sub for sub in ("storage-models/models", "storage-user/input", "storage-user/output",
                                         "storage-user/user-profile")]
    made = sshd.run("mkdir", "-p", *map(str, folders))
    assert made.returncode == 0, made.stderr
    url = f"http://127.0.0.1:{values['port']}"
    config = write_fleet(tmp_path / "fleet.toml", url, values)
    try:
        # the image is only in the registry: the pull runs on the remote engine, through the tunnel
        out = cli(tmp_path, config, "--server", "remote", "pull")
        assert out.returncode == 0, out.stderr
        assert f"pulled {remote_host.image}:{remote_host.tag}" in out.stderr
        assert service.podman("image", "exists", f"{remote_host.image}:{remote_host.tag}", check=False).returncode == 0

        out = cli(tmp_path, config, "up", "--server", "remote", "--yes")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == url  # the remote server's URL, not the container's loopback
        assert "ws_connected" in out.stderr
        state = remote_state(service, name)
        assert state is not None and state["State"]["Status"] == "running"  # on the remote engine

        out = cli(tmp_path, config, "logs", "--server", "remote", "--tail", "5")
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert 0 < len(lines) <= 5
        ours = service.podman("logs", "--tail", "5", name).stdout + service.podman("logs", "--tail", "5", name).stderr
        assert lines[-1].strip() in ours  # the remote container's own last lines

        out = cli(tmp_path, config, "status", "--server", "remote", "--json")
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        assert status["state"] == "running" and status["name"] == name
        assert status["server"]["reachable"] is True

        out = cli(tmp_path, config, "down", "--server", "remote", "-t", "2")
        assert out.returncode == 0, out.stderr
        state = remote_state(service, name)
        assert state is not None and state["State"]["Status"] in ("exited", "stopped")
    finally:
        cli(tmp_path, config, "down", "--server", "remote", "--remove", "-t", "0")
        service.podman("rm", "-f", "-t", "0", name, check=False)
    assert remote_state(service, name) is None
    # every ssh tunnel comfytui opened is gone with its command
    leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{sshd.port}|-p {sshd.port}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_socket_names_a_podman_connection(remote_host, tmp_path: Path):
    """``socket = "NAME"``: URI and identity come from ``podman system connection list``."""
    sshd = remote_host.sshd
    conf = tmp_path / "containers.conf"  # where podman 4.3 keeps its connections; chosen by CONTAINERS_CONF
    conf.write_text(tomli_w.dumps({"engine": {"service_destinations": {
        "gpubox": {"uri": remote_host.socket_url, "identity": str(sshd.client_key)}}}}))
    env = {"CONTAINERS_CONF": str(conf)}
    name = f"ctui-conn-{os.getpid()}"
    container = {"socket": "gpubox", "name": name, "image": remote_host.image, "tag": remote_host.tag,
                 "network": "host", "gpu": "none",
                 "ssh_options": [f"UserKnownHostsFile={sshd.known_hosts}", "StrictHostKeyChecking=yes"]}
    config = write_fleet(tmp_path / "fleet.toml", f"http://127.0.0.1:{free_port()}", container)
    out = cli(tmp_path, config, "status", "--server", "remote", "--json", env=env)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["state"] == "absent" and status["name"] == name
    out = cli(tmp_path, config, "preflight", "--server", "remote", env=env)
    # (the CLI masks the user part of URLs it prints)
    answered = f"the podman API answers at ssh://****@127.0.0.1:{sshd.port}{remote_host.service.socket_path}"
    assert answered in out.stdout, out.stdout + out.stderr
    assert "port 8188 is on the remote host" in out.stdout  # not checked on this machine

    # an unknown name, and a key the remote does not accept: one clear line each, exit 3
    write_fleet(config, "http://127.0.0.1:1", {**container, "socket": "nobox"})
    out = cli(tmp_path, config, "status", "--server", "remote", env=env)
    assert out.returncode == 3 and "not a podman connection (known: gpubox)" in out.stderr
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    write_fleet(config, "http://127.0.0.1:1", {**container, "socket": remote_host.socket_url,
                                               "identity": str(stranger)})
    out = cli(tmp_path, config, "logs", "--server", "remote", env=env)
    assert out.returncode == 3 and "Permission denied" in out.stderr and "Traceback" not in out.stderr


async def test_concurrent_callers_share_one_tunnel_and_a_dropped_link_is_reopened(remote_host, monkeypatch):
    """The dashboard's status watch and log follower connect at the same moment: one ssh tunnel,
    and every call works after. When that ssh process dies (the link dropped), the call in flight
    fails with a clear error and the next one opens a new tunnel."""
    import asyncio
    import gc

    from comfytui.core.config import ContainerSettings
    from comfytui.core.errors import LifecycleError
    from comfytui.core.lifecycle import remote
    from comfytui.core.lifecycle.podman_backend import PodmanBackend
    from comfytui.core.lifecycle.spec import ContainerSpec

    opened: list[remote.SshTunnel] = []
    real_open = remote.SshTunnel.open

    def counted_open(self, *args, **kwargs):  # the real open, counted
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(remote.SshTunnel, "open", counted_open)
    sshd = remote_host.sshd
    settings = ContainerSettings(
        socket=remote_host.socket_url, name=f"ctui-race-{os.getpid()}", image=remote_host.image, tag=remote_host.tag,
        network="host", gpu="none", identity=str(sshd.client_key),
        ssh_options=[f"UserKnownHostsFile={sshd.known_hosts}", "StrictHostKeyChecking=yes"],
    )
    backend = PodmanBackend(ContainerSpec.from_settings(settings, gpu_present=False), socket_uri=settings.socket, settings=settings)
    try:
        statuses = await asyncio.gather(*(backend.status() for _ in range(4)))
        assert [s.state.value for s in statuses] == ["absent"] * 4
        assert len(opened) == 1, f"{len(opened)} ssh tunnels opened for one backend"
        gc.collect()  # a tunnel nobody holds is closed by its finalizer: the one in use must be held
        assert (await backend.status()).state.value == "absent"

        opened[0]._proc.kill()  # the link drops
        opened[0]._proc.wait()
        with pytest.raises(LifecycleError, match="inspect"):
            await backend.status()
        assert (await backend.status()).state.value == "absent", "the next call opens a new tunnel"
        assert len(opened) == 2
    finally:
        await backend.close()
