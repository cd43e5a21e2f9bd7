"""The test harness itself, against a real CPU ComfyUI 0.3.75 with the test node pack."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from harness._reaper import start_time
from harness.comfy import ComfyServer, fail_prompt, progress_prompt, sleep_prompt, unique_seed
from harness.components import require

pytestmark = pytest.mark.comfy


async def run_prompt(
    server: ComfyServer, prompt: dict, *, wait_s: float = 30.0, on_start=None
) -> tuple[str, list[dict], list[bytes]]:
    """Submit ``prompt`` with a client id while a websocket with that id is open.

    Returns (prompt_id, JSON messages, binary frames) up to the final ``executing`` with node null.
    ``on_start(client, prompt_id)`` is awaited once the prompt's first node is executing.
    """
    client_id = f"harness-{uuid.uuid4().hex[:8]}"
    messages: list[dict] = []
    frames: list[bytes] = []
    async with (
        connect(f"{server.ws_url}?clientId={client_id}", max_size=None) as ws,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        first = json.loads(await ws.recv())
        assert first["type"] == "status" and first["data"]["sid"] == client_id
        resp = await client.post("/prompt", json={"prompt": prompt, "client_id": client_id})
        assert resp.status_code == 200, resp.text
        prompt_id = resp.json()["prompt_id"]
        async with asyncio.timeout(wait_s):
            while True:
                raw = await ws.recv()
                if isinstance(raw, bytes):
                    frames.append(raw)
                    continue
                msg = json.loads(raw)
                messages.append(msg)
                data = msg.get("data", {})
                if data.get("prompt_id") != prompt_id:
                    continue
                if msg["type"] == "executing" and data.get("node") is not None and on_start:
                    await on_start(client, prompt_id)
                    on_start = None
                if msg["type"] == "executing" and data.get("node") is None:
                    return prompt_id, messages, frames


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m["data"] for m in messages if m["type"] == kind]


async def test_system_stats_reports_comfyui_version(comfy_server: ComfyServer) -> None:
    async with httpx.AsyncClient(base_url=comfy_server.url) as client:
        resp = await client.get("/system_stats")
    assert resp.status_code == 200
    assert resp.json()["system"]["comfyui_version"] == "0.3.75"
    assert comfy_server.url == f"http://127.0.0.1:{comfy_server.port}"
    assert comfy_server.is_running() and comfy_server.pid
    assert comfy_server.log_path.exists()
    assert (comfy_server.base / "custom_nodes" / "comfytui_test_nodes").is_dir()


async def test_object_info_lists_the_test_nodes(comfy_server: ComfyServer) -> None:
    async with httpx.AsyncClient(base_url=comfy_server.url) as client:
        info = (await client.get("/object_info")).json()

    progress = info["ComfyTUIProgress"]
    assert progress["category"] == "comfytui/testing"
    req = progress["input"]["required"]
    assert req["steps"] == ["INT", {"default": 4, "min": 1, "max": 1000}]
    assert req["delay"][0] == "FLOAT"
    assert {k: req["delay"][1][k] for k in ("default", "min", "max", "step")} == {
        "default": 0.05, "min": 0.0, "max": 10.0, "step": 0.01}
    assert req["fmt"] == [["JPEG", "PNG"]]
    assert req["seed"] == ["INT", {"default": 0, "min": 0, "max": 2**32 - 1, "control_after_generate": True}]
    assert progress["input"]["optional"] == {"image": ["IMAGE"]}
    assert progress["input"]["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert progress["output"] == ["IMAGE"]

    sleep = info["ComfyTUISleep"]
    assert sleep["input"]["required"]["seconds"][0] == "FLOAT"
    assert sleep["input"]["required"]["seconds"][1]["default"] == 1.0
    assert sleep["input"]["required"]["seconds"][1]["max"] == 600.0
    assert sleep["input"]["required"]["seed"][0] == "INT"
    assert sleep["input"]["optional"] == {"image": ["IMAGE"]}

    fail = info["ComfyTUIFail"]
    assert fail["input"]["required"]["message"] == ["STRING", {"default": "requested failure"}]
    assert fail["input"]["required"]["fail"] == ["BOOLEAN", {"default": True}]
    assert fail["input"]["optional"] == {"image": ["IMAGE"]}
    for name in ("ComfyTUIProgress", "ComfyTUISleep", "ComfyTUIFail"):
        assert info[name]["category"] == "comfytui/testing"
        assert info[name]["display_name"].startswith("ComfyTUI ")


@pytest.mark.parametrize("fmt, magic, code", [("JPEG", b"\xff\xd8", 1), ("PNG", b"\x89PNG", 2)])
async def test_progress_previews_and_output(comfy_server: ComfyServer, fmt: str, magic: bytes, code: int) -> None:
    steps = 4
    prefix = f"harness_{uuid.uuid4().hex[:8]}"
    prompt = progress_prompt(steps=steps, delay=0.02, fmt=fmt, prefix=prefix)
    prompt_id, messages, frames = await run_prompt(comfy_server, prompt)

    assert of_type(messages, "execution_success"), messages
    progress = [d for d in of_type(messages, "progress") if d["prompt_id"] == prompt_id]
    assert [(d["value"], d["max"], d["node"]) for d in progress] == [(i, steps, "1") for i in range(1, steps + 1)]

    previews = [f for f in frames if struct.unpack(">I", f[:4])[0] == 1]
    assert len(previews) == steps
    assert all(struct.unpack(">I", f[4:8])[0] == code and f[8:].startswith(magic) for f in previews)
    assert len({f[8:] for f in previews}) == steps, "each step's preview should differ"

    texts = [f for f in frames if struct.unpack(">I", f[:4])[0] == 3]
    decoded = []
    for f in texts:
        (n,) = struct.unpack(">I", f[4:8])
        decoded.append((f[8 : 8 + n].decode(), f[8 + n :].decode()))
    assert decoded == [("1", f"step {i}/{steps}") for i in range(1, steps + 1)]

    executed = [d for d in of_type(messages, "executed") if d["node"] == "2"]
    assert executed and executed[0]["output"]["images"][0]["filename"].startswith(prefix)
    files = list((comfy_server.base / "output").glob(f"{prefix}_*.png"))
    assert len(files) == 1 and files[0].stat().st_size > 0


async def test_fail_node_reports_execution_error(comfy_server: ComfyServer) -> None:
    message = f"harness failure {uuid.uuid4().hex[:6]}"
    prompt_id, messages, _ = await run_prompt(comfy_server, fail_prompt(message))
    errors = of_type(messages, "execution_error")
    assert len(errors) == 1
    assert errors[0]["prompt_id"] == prompt_id
    assert errors[0]["node_type"] == "ComfyTUIFail"
    assert errors[0]["exception_type"] == "ValueError"
    assert errors[0]["exception_message"].strip() == message
    assert not of_type(messages, "execution_success")


async def test_sleep_node_is_interruptible(comfy_server: ComfyServer) -> None:
    interrupted_at: list[float] = []

    async def interrupt(client: httpx.AsyncClient, prompt_id: str) -> None:
        await asyncio.sleep(0.3)
        interrupted_at.append(time.monotonic())
        assert (await client.post("/interrupt", json={"prompt_id": prompt_id})).status_code == 200

    _, messages, _ = await run_prompt(comfy_server, sleep_prompt(60), wait_s=20, on_start=interrupt)
    assert of_type(messages, "execution_interrupted")
    assert time.monotonic() - interrupted_at[0] < 5
    assert of_type(messages, "progress"), "the sleep node reports progress every tick"


async def test_kill_then_restart_on_same_port(comfy_server_factory) -> None:
    server: ComfyServer = comfy_server_factory()
    port, base, old_pid = server.port, server.base, server.pid
    assert server.is_ready()

    server.kill()
    assert not server.is_running() and server.pid is None
    assert not server.is_ready()

    server.restart()
    assert (server.port, server.base) == (port, base)
    assert server.pid != old_pid and server.is_running()
    async with httpx.AsyncClient(base_url=server.url) as client:
        resp = await client.get("/system_stats")
    assert resp.status_code == 200
    # and it runs a job after the crash
    _, messages, _ = await run_prompt(server, progress_prompt(steps=2, delay=0, seed=unique_seed(), save=False))
    assert of_type(messages, "execution_success")

    server.stop()
    assert not server.is_running() and not server.is_ready()
    server.stop()  # idempotent


def test_require_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    require("thing", True, "never shown")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="thing not available: apt-get install thing"):
        require("thing", False, "apt-get install thing")
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="apt-get install thing"):
            require("thing", False, "apt-get install thing")


def test_comfytui_home_is_isolated(comfytui_home, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert os.environ["COMFYTUI_HOME"] == str(comfytui_home)
    assert comfytui_home.is_dir() and not any(comfytui_home.iterdir())


def test_the_watchdog_kills_a_registered_group_and_never_a_recycled_pid() -> None:
    """harness/_reaper.py: when the test process goes, the process groups it registered are
    killed, but only while each PID is still the registered process. PIDs wrap at 32768 here and
    a suite starts thousands of processes, so a stale PID can be another test's server or the
    user's tmux by then."""
    reaper = Path(__file__).parent / "harness" / "_reaper.py"
    ours = subprocess.Popen(["sleep", "60"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # stands in for a recycled PID
    try:
        watchdog = subprocess.Popen([sys.executable, str(reaper)], stdin=subprocess.PIPE, start_new_session=True)
        assert watchdog.stdin is not None
        stale_start = str(int(start_time(stranger.pid)) - 1)  # the process that had this PID before
        watchdog.stdin.write(f"+{ours.pid} {start_time(ours.pid)}\n+{stranger.pid} {stale_start}\n".encode())
        watchdog.stdin.close()  # the test process is gone
        watchdog.wait(timeout=20)
        assert ours.wait(timeout=5) == -15, "the registered group got SIGTERM"
        time.sleep(0.2)
        assert stranger.poll() is None, "a recycled PID was signalled"
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()
