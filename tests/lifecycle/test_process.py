"""ProcessBackend: a bare ComfyUI started by comfytui (the real CPU ComfyUI, and a failing fake)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest

from comfytui.core.config import ProcessSettings
from comfytui.core.errors import ConfigError
from comfytui.core.lifecycle import Backend, Phase, ProcessBackend, ServiceState, StartupFailed, startup
from comfytui.core.lifecycle.linebuf import MAX_LINE, TRUNCATED, LineSplitter
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


# -- bounded logs: rotation at start, tail read from the end ------------------------------------


def _write_log(path: Path, runs: list[tuple[str, int]], trailer: bytes = b"") -> None:
    """A log of several runs, each a marker line and ``count`` numbered lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"stray line before any run\n")
        for stamp, count in runs:
            f.write(f"=== comfytui: starting ComfyUI at {stamp} ===\n".encode())
            f.write(b"".join(f"{stamp[:4]} line {i} {'x' * 80}\n".encode() for i in range(count)))
        f.write(trailer)


async def test_a_big_log_is_tailed_from_its_end_in_little_memory(tmp_path: Path):
    tree = tmp_path / "fake"
    tree.mkdir()
    backend = ProcessBackend(ProcessSettings(comfyui_dir=str(tree)), state_dir=tmp_path / "state")
    early, late = "2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"
    # ~25 MiB: reading it whole would show in the peak below.
    await asyncio.to_thread(_write_log, backend.log_file, [(early, 150_000), (late, 150_000)], b"half a line")
    tracemalloc.start()
    try:
        lines = [line async for line in backend.logs(tail=3)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [line.text[:16] for line in lines] == ["2026 line 149997", "2026 line 149998", "2026 line 149999"]
    assert peak < 2 * 1024 * 1024, f"tail=3 of a 25 MiB log peaked at {peak} bytes"

    # ``since`` keeps the later run only; a tail reaching its marker shows it with its time.
    since = datetime.fromisoformat("2026-01-15T00:00:00+00:00")
    lines = [line async for line in backend.logs(tail=150_001, since=since)]
    assert len(lines) == 150_001 and lines[0].time == datetime.fromisoformat(late)
    assert lines[1].text.startswith("2026 line 0 ") and lines[-1].text.startswith("2026 line 149999 ")
    # The same selection read forwards (no tail); the unfinished last line is not a line yet.
    streamed = [line async for line in backend.logs(since=since)]
    assert [(line.time, line.text) for line in streamed] == [(line.time, line.text) for line in lines]
    everything = [line async for line in backend.logs()]
    assert len(everything) == 1 + 2 * 150_001 and everything[0].text == "stray line before any run"
    assert [line async for line in backend.logs(tail=0)] == []
    assert backend.run_lines(2) == [lines[-2].text, lines[-1].text]


async def test_a_log_over_the_limit_is_rotated_when_the_backend_starts(tmp_path: Path):
    tree = tmp_path / "fake"
    tree.mkdir()
    (tree / "main.py").write_text("print('fresh run')\n")
    backend = ProcessBackend(
        ProcessSettings(comfyui_dir=str(tree), python=sys.executable, port=free_port()),
        state_dir=tmp_path / "state",
    )
    old = "2026-01-01T00:00:00+00:00"
    await asyncio.to_thread(_write_log, backend.log_file, [(old, 100_000)])  # ~9 MiB, over the 8 MiB limit
    old_size = backend.log_file.stat().st_size
    await backend.start()
    for _ in range(100):
        if (await backend.status()).state is ServiceState.EXITED:
            break
        await asyncio.sleep(0.1)
    rotated = backend.log_file.with_name(backend.log_file.name + ".1")
    assert rotated.stat().st_size == old_size, "the old log is kept as .1"
    lines = [line.text async for line in backend.logs()]
    assert len(lines) == 2 and lines[0].startswith("=== comfytui: starting ComfyUI at ") and lines[1] == "fresh run"
    assert backend.run_lines() == ["fresh run"]
    # A small log is not rotated: the next start appends to it.
    await backend.start()
    for _ in range(100):
        if (await backend.status()).state is ServiceState.EXITED:
            break
        await asyncio.sleep(0.1)
    assert rotated.stat().st_size == old_size
    assert [line.text async for line in backend.logs()].count("fresh run") == 2


def test_a_line_without_newlines_is_cut_into_bounded_pieces():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == [b"one"]
    assert splitter.feed(b"o\n") == [b"two"]
    pieces = [line for _ in range(30) for line in splitter.feed(b"y" * 10_000)]  # 300 kB, no newline
    assert [len(p) for p in pieces] == [MAX_LINE + len(TRUNCATED)] * 4 and all(p.endswith(TRUNCATED) for p in pieces)
    assert splitter.feed(b"\n") == [b"y" * (300_000 - 4 * MAX_LINE)]
    assert splitter.feed(b"tail") == [] and splitter.flush() == b"tail" and splitter.flush() == b""
