"""ProcessBackend: a bare ComfyUI started by comfytui (the real CPU ComfyUI, and a failing fake)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfytui.core.config import ProcessSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle import Backend, Phase, ProcessBackend, ServiceState, StartupFailed, startup
from harness.podman import free_port, watch

COMFYTUI = str(Path(sys.executable).with_name("comfytui"))


def proc_file(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def test_comfyui_dir_is_required():
    with pytest.raises(ConfigError, match="comfyui_dir"):
        ProcessBackend(ProcessSettings())


async def test_process_that_exits_during_startup(tmp_path: Path):
    tree = tmp_path / "fake"
    tree.mkdir()
    (tree / "main.py").write_text(
        "import sys\nprint('loading nodes')\nprint('boom: no torch', file=sys.stderr)\nsys.exit(5)\n"
    )
    backend = ProcessBackend(
        ProcessSettings(comfyui_dir=str(tree), python=sys.executable, port=free_port()),
        state_dir=tmp_path / "state",
    )
    events = []
    with pytest.raises(StartupFailed) as info:
        async for event in startup(backend, timeout_s=20):
            events.append(event)
    assert [e.phase for e in events if e.changed] == [
        Phase.PULLED,
        Phase.CREATED,
        Phase.RUNNING,
        Phase.FAILED,
    ]
    assert info.value.container_exit_code == 5
    assert info.value.last_lines == ["loading nodes", "boom: no torch"]
    status = await backend.status()
    assert status.state is ServiceState.EXITED and status.exit_code == 5


@pytest.mark.comfy
async def test_real_comfyui_process_from_two_invocations(comfy, tmp_path: Path):
    base = tmp_path / "base"
    empty = tmp_path / "frontend-empty"
    empty.mkdir()
    port = free_port()
    settings = ProcessSettings(
        comfyui_dir=comfy["tree"],
        python=comfy["python"],
        port=port,
        base_directory=str(base),
        args=["--cpu", "--front-end-root", str(empty), "--database-url", "sqlite:///:memory:"],
        env={"HOME": str(tmp_path)},
        stop_timeout_s=10,
    )
    state = tmp_path / "home" / "state"
    backend = ProcessBackend(settings, state_dir=state)
    assert isinstance(backend, Backend)
    started_pid = None
    try:
        checks = {c.name: c for c in await backend.preflight()}
        assert all(c.ok for c in checks.values()), checks
        events = [e async for e in startup(backend, timeout_s=90)]
        assert [e.phase for e in events if e.changed] == [
            Phase.PULLED,
            Phase.CREATED,
            Phase.RUNNING,
            Phase.HTTP_READY,
            Phase.WS_CONNECTED,
        ]
        assert all((base / d).is_dir() for d in ("custom_nodes", "models", "input", "output", "user"))
        status = await backend.status()
        started_pid = status.pid
        watch(started_pid)
        assert status.state is ServiceState.RUNNING and status.url == f"http://127.0.0.1:{port}"
        pid = status.pid
        cmdline = proc_file(pid, "cmdline").split(b"\0")
        assert cmdline[0].decode() == comfy["python"] and b"--base-directory" in cmdline
        assert os.getsid(pid) == pid  # its own session: a Ctrl-C in our terminal does not reach it
        preflight = {c.name: c for c in await backend.preflight()}
        assert preflight["port"].ok and "is running" in preflight["port"].message

        # another comfytui invocation (fresh object, then the real CLI) sees and controls it
        other = ProcessBackend(settings, state_dir=state)
        assert (await other.status()).pid == pid
        lines = [line.text async for line in other.logs(tail=200)]
        assert any("To see the GUI go to" in t for t in lines)
        config = tmp_path / "config.toml"
        config.write_text(
            'backend = "process"\n[process]\n'
            f"comfyui_dir = {json.dumps(comfy['tree'])}\npython = {json.dumps(comfy['python'])}\nport = {port}\n"
        )
        env = {**os.environ, "COMFYTUI_HOME": str(tmp_path / "home"), "COMFYTUI_CONFIG": str(config)}
        out = await asyncio.to_thread(
            subprocess.run,
            [COMFYTUI, "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["state"] == "running" and data["pid"] == pid and data["backend"] == "process"
        out = await asyncio.to_thread(
            subprocess.run,
            [COMFYTUI, "logs", "--tail", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and len(out.stdout.splitlines()) == 3
        t0 = time.monotonic()
        out = await asyncio.to_thread(
            subprocess.run, [COMFYTUI, "down"], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert time.monotonic() - t0 < 10
        assert (await backend.status()).state is ServiceState.EXITED
        stat = proc_file(pid, "stat")
        assert not stat or stat.split()[2] == b"Z"
    finally:
        await backend.stop(timeout=3)
        if started_pid:
            watch(started_pid, alive=False)


async def test_process_gets_pci_bus_device_order(tmp_path: Path):
    """CUDA numbers GPUs fastest-first by default; comfytui starts ComfyUI in PCI bus order so its
    device indices match NVML's and nvidia-smi's (and the user's [process] env still wins)."""
    tree = tmp_path / "fake"
    tree.mkdir()
    (tree / "main.py").write_text(
        "import os, sys\nprint('order=' + os.environ.get('CUDA_DEVICE_ORDER', '<unset>'))\nsys.exit(3)\n"
    )

    async def order_seen(env: dict[str, str]) -> list[str]:
        backend = ProcessBackend(
            ProcessSettings(comfyui_dir=str(tree), python=sys.executable, port=free_port(), env=env),
            state_dir=tmp_path / f"state-{len(env)}",
        )
        with pytest.raises(StartupFailed) as info:
            async for _ in startup(backend, timeout_s=20):
                pass
        return info.value.last_lines

    assert await order_seen({}) == ["order=PCI_BUS_ID"]
    assert await order_seen({"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}) == ["order=FASTEST_FIRST"]
