"""Startup behind a gateway that wants a bearer token: the readiness probes (HTTP and websocket)
carry the ``[server]`` credentials; ``comfytui up`` (a subprocess) gets through the gateway to
"ws_connected" with a process backend. The Server screen's run is tests/tui_server/test_server_gateway.py."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import tomli_w

from comfytui.core.config import ProcessSettings, ServerSettings
from comfytui.core.lifecycle import Phase, ProcessBackend, StartupFailed, startup
from harness.gateway import TOKEN, bearer_gateway
from harness.podman import free_port


@pytest.mark.comfy
async def test_startup_behind_a_bearer_gateway_reaches_websocket_connected(
    comfy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", TOKEN)
    empty = tmp_path / "frontend-empty"
    empty.mkdir()
    port = free_port()
    settings = ProcessSettings(
        comfyui_dir=comfy["tree"], python=comfy["python"], port=port, base_directory=str(tmp_path / "base"),
        args=["--cpu", "--front-end-root", str(empty), "--database-url", "sqlite:///:memory:"],
        env={"HOME": str(tmp_path)}, stop_timeout_s=10,
    )
    backend = ProcessBackend(settings, state_dir=tmp_path / "state")
    try:
        async with bearer_gateway(port) as (gateway_url, refused):
            server = ServerSettings(url=gateway_url, auth="bearer", token_env="GATEWAY_TOKEN")
            events = [e async for e in startup(backend, url=gateway_url, server=server, timeout_s=120)]
            assert [e.phase for e in events if e.changed][-2:] == [Phase.HTTP_READY, Phase.WS_CONNECTED]
            assert refused == [], "every probe carried the token"
            # Without the credentials the same gateway keeps the start from ever being ready.
            with pytest.raises(StartupFailed, match="did not answer"):
                async for _ in startup(backend, url=gateway_url, server=ServerSettings(url=gateway_url), timeout_s=3):
                    pass
            assert refused and all("/system_stats" in line for line in refused)
    finally:
        await backend.stop()
        await backend.close()


@pytest.mark.comfy
async def test_comfytui_up_behind_a_bearer_gateway(comfy, tmp_path: Path) -> None:
    """``comfytui up`` with a process backend and ``[server]`` naming the gateway: its readiness
    probe goes through the gateway with the token (without it, the start is never ready)."""
    empty = tmp_path / "frontend-empty"
    empty.mkdir()
    port = free_port()
    process = {
        "comfyui_dir": comfy["tree"],
        "python": comfy["python"],
        "port": port,
        "base_directory": str(tmp_path / "base"),
        "args": ["--cpu", "--front-end-root", str(empty), "--database-url", "sqlite:///:memory:"],
        "env": {"HOME": str(tmp_path)},
        "stop_timeout_s": 10,
    }
    config = tmp_path / "config.toml"
    env = {**os.environ, "COMFYTUI_HOME": str(tmp_path / "home"), "COMFYTUI_CONFIG": str(config)}
    env.pop("GATEWAY_TOKEN", None)
    comfytui = str(Path(sys.executable).with_name("comfytui"))

    async def run(*args: str, token: bool = True) -> tuple[int, str, str]:
        child = await asyncio.create_subprocess_exec(
            comfytui, *args, env={**env, "GATEWAY_TOKEN": TOKEN} if token else env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(child.communicate(), 180)
        return child.returncode or 0, out.decode(), err.decode()

    async with bearer_gateway(port) as (gateway_url, refused):
        server = {"url": gateway_url, "auth": "bearer", "token_env": "GATEWAY_TOKEN"}
        config.write_text(tomli_w.dumps({"backend": "process", "server": server, "process": process}))
        try:
            # without the token the gateway refuses every probe: never ready
            code, _, err = await run("up", "--startup-timeout", "6", token=False)
            assert code == 3 and "did not answer" in err and gateway_url in err, err
            assert refused and all("/system_stats" in line for line in refused)
            refused.clear()

            code, out, err = await run("up")
            assert code == 0, err
            assert out.strip() == f"http://127.0.0.1:{port}"
            assert f"http_ready: GET {gateway_url}/system_stats answered 200" in err
            assert "] ws_connected: websocket connected" in err
            assert refused == [], "every probe carried the token"
        finally:
            code, _, err = await run("down")
            assert code == 0, err
