"""The Server screen behind an authenticating gateway: the whole dashboard (``ComfyTuiApp``) with a
*process* backend and ``[server]`` naming a loopback gateway that wants a bearer token. Start with
``u`` reaches "websocket connected" exactly as ``comfytui up`` does (tests/lifecycle/test_gateway.py):
the manager's readiness probe goes through the gateway with the credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfytui.core.config import Config, ProcessSettings, ReconnectSettings
from comfytui.core.lifecycle import Phase, PhaseChanged, ProcessBackend, ServiceState
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.screens.server import ServerScreen
from harness.app import screen_text, wait_until
from harness.gateway import TOKEN, bearer_gateway
from harness.podman import free_port


@pytest.mark.comfy
async def test_server_screen_start_behind_a_bearer_gateway_reaches_websocket_connected(
    comfy, tmp_path: Path, comfytui_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfytui.tui.app import ComfyTuiApp

    monkeypatch.setenv("GATEWAY_TOKEN", TOKEN)
    empty = tmp_path / "frontend-empty"
    empty.mkdir()
    port = free_port()
    process = ProcessSettings(
        comfyui_dir=comfy["tree"], python=comfy["python"], port=port, base_directory=str(tmp_path / "base"),
        args=["--cpu", "--front-end-root", str(empty), "--database-url", "sqlite:///:memory:"],
        env={"HOME": str(tmp_path)}, stop_timeout_s=10, startup_timeout_s=120,
    )
    async with bearer_gateway(port) as (gateway_url, refused):
        config = Config(backend="process", process=process).with_server(
            url=gateway_url, auth="bearer", token_env="GATEWAY_TOKEN"
        )
        config = config.replace(
            reconnect=ReconnectSettings(base_delay_s=0.2, max_delay_s=1.0),
            ui=type(config.ui)(image_protocol="halfcell"),
        )
        app = ComfyTuiApp(config)
        manager = app.lifecycle
        steps: list[PhaseChanged] = []
        manager.add_listener(
            lambda event: steps.append(event) if isinstance(event, PhaseChanged) and event.changed else None
        )
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.press("s")
                await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="the Server screen")
                await wait_until(
                    pilot,
                    lambda: manager.status is not None and manager.status.state is ServiceState.ABSENT,
                    what="the first status",
                )
                await pilot.press("u")
                await wait_until(pilot, lambda: manager.busy is None and steps, timeout=150, what="the start")
                assert manager.error is None, manager.error
                assert [step.phase for step in steps] == [Phase.PULLED, Phase.CREATED, Phase.RUNNING, Phase.HTTP_READY, Phase.WS_CONNECTED]
                assert refused == [], "every probe (and the dashboard's session) carried the token"
                await wait_until(
                    pilot,
                    lambda: all(n in screen_text(app) for n in ("✔ WS", "websocket connected", "process comfyui · running")),
                    what="the ladder up to the websocket",
                )
                # the probe went through the gateway, not around it to the process's own port
                assert steps[3].detail == f"GET {gateway_url}/system_stats answered 200"

                await pilot.press("S")
                await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop confirmation")
                await pilot.press("y")
                await wait_until(
                    pilot,
                    lambda: manager.status is not None and manager.status.state is ServiceState.EXITED,
                    timeout=30,
                    what="the stop",
                )
        finally:
            backend = ProcessBackend(process)
            await backend.stop()
            await backend.close()
