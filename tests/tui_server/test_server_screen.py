"""The Server screen driven with Pilot, on a real podman engine.

- the whole dashboard (``ComfyTuiApp``, key ``s``) with the real CPU ComfyUI inside a container:
  start with ``u`` shows the phases up to the websocket, the card shows the spec's 127.0.0.1
  binding, ``S`` asks first (``n`` keeps it running, ``y`` stops it);
- a small host app (``.config`` + ``.lifecycle``, the manager's loops as App workers, as the
  dashboard does) with busybox containers for the faster paths: cancel a start with Esc,
  remove after confirming, recreate showing the changes, preflight failures.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from textual import work
from textual.app import App
from textual.widgets import ProgressBar
from tui_server_helpers import remove_image

from comfytui.core.comfy.session import ComfySession
from comfytui.core.comfy.stats import SystemStatsPoller
from comfytui.core.config import Config, ContainerSettings, ReconnectSettings
from comfytui.core.gpu.feed import GpuFeed
from comfytui.core.gpu.sampler import GpuSampler
from comfytui.core.lifecycle import ContainerSpec, Phase, PhaseChanged, PodmanBackend, ServiceState
from comfytui.core.lifecycle.events import LifecycleEvent
from comfytui.core.lifecycle.manager import LifecycleManager
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.screens.help import HelpScreen
from comfytui.tui.screens.server import ServerScreen
from comfytui.tui.services import Services
from comfytui.tui.widgets.log_pane import LogPane
from harness.app import screen_text, wait_until
from harness.podman import PodmanService, comfy_container_values

pytestmark = pytest.mark.podman


class HostApp(App[None]):
    """A small app around the Server screen: the app's ``Services`` with a lifecycle manager
    whose status and log loops the App owns, like the dashboard (the session is never run)."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.lifecycle = LifecycleManager(config)
        session = ComfySession(config)
        self.services = Services(
            config=config,
            session=session,
            gpu_feed=GpuFeed(GpuSampler(config.gpu)),
            stats_poller=SystemStatsPoller(session.client),
            lifecycle=self.lifecycle,
        )
        self.updates: list[LifecycleEvent] = []
        self.lifecycle.add_listener(self.updates.append)

    def on_mount(self) -> None:
        self.watch_service()
        self.follow_service_logs()
        self.push_screen(ServerScreen(self.services))

    @work(exclusive=True, group="service-status", exit_on_error=False)
    async def watch_service(self) -> None:
        await self.lifecycle.watch_status(0.5)

    @work(exclusive=True, group="service-logs", exit_on_error=False)
    async def follow_service_logs(self) -> None:
        await self.lifecycle.follow_logs()

    async def on_unmount(self) -> None:
        await self.lifecycle.aclose()


async def shows(pilot, app: App, *needles: str, timeout: float = 10.0) -> str:
    """Wait until the screen shows every needle; returns the screen's text."""
    text = ""

    def visible() -> bool:
        nonlocal text
        text = screen_text(app)
        return all(n in text for n in needles)

    try:
        await wait_until(pilot, visible, timeout=timeout, what=f"the screen to show {needles}")
    except AssertionError:
        raise AssertionError(
            f"the screen does not show {[n for n in needles if n not in text]}:\n{text[-3000:]}"
        ) from None
    return text


def state(manager: LifecycleManager) -> ServiceState | None:
    return manager.status.state if manager.status else None


@pytest.mark.comfy
async def test_dashboard_server_screen_starts_real_comfyui_and_stop_asks(
    comfy, podman_service: PodmanService, tmp_path: Path, unique_name: str, comfytui_home: Path, cleanup
) -> None:
    from comfytui.tui.app import ComfyTuiApp

    cleanup(unique_name)
    container = ContainerSettings(
        **comfy_container_values(comfy, podman_service.uri, tmp_path / "base", unique_name)
    )
    config = Config(backend="container", container=container).with_server(
        url=f"http://127.0.0.1:{container.port}"
    )
    config = config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.2, max_delay_s=1.0),
        ui=type(config.ui)(image_protocol="halfcell"),
    )
    app = ComfyTuiApp(config)
    manager: LifecycleManager = app.lifecycle
    phases: list[Phase] = []
    manager.add_listener(
        lambda event: phases.append(event.phase) if isinstance(event, PhaseChanged) and event.changed else None
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="the Server screen")
        await wait_until(pilot, lambda: state(manager) is ServiceState.ABSENT, what="the first status")
        await shows(pilot, app, "not created", "u creates and starts it")

        await pilot.press("u")
        await wait_until(
            pilot,
            lambda: manager.busy and manager.phase is not None and manager.phase.phase is Phase.RUNNING,
            timeout=60,
            what="the running phase",
        )
        # while ComfyUI loads: the ladder with the step being waited for, and the phase's detail
        await shows(pilot, app, "✔ pulled", "✔ created", "✔ running", "… HTTP", "starting…")
        await wait_until(pilot, lambda: manager.busy is None, timeout=150, what="the start to end")
        assert manager.error is None, manager.error
        assert phases == [Phase.PULLED, Phase.CREATED, Phase.RUNNING, Phase.HTTP_READY, Phase.WS_CONNECTED]
        assert manager.phase.phase is Phase.WS_CONNECTED
        port = container.port
        text = await shows(
            pilot,
            app,
            "✔ WS",
            "websocket connected",
            f"{unique_name} · running",
            f"127.0.0.1:{port}->{port}/tcp",  # the spec's loopback binding
            "network host",
            "CPU mode",
            "managed by comfytui",
        )
        assert "up " in text
        log_view = app.screen.query_one("#server-log", LogPane).view
        await wait_until(pilot, lambda: len(log_view.lines) > 3, what="log lines in the log view")

        # S asks first; n keeps it running
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop confirmation")
        await shows(pilot, app, f"Stop {unique_name}?")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="back from the dialog")
        await pilot.pause(0.5)
        assert manager.busy is None and state(manager) is ServiceState.RUNNING
        # y stops it
        await pilot.press("S")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: state(manager) is ServiceState.EXITED, timeout=20, what="the stop")
        await shows(pilot, app, f"{unique_name} · exited")
        await pilot.press("escape")  # nothing runs: back to the dashboard
        await wait_until(pilot, lambda: not isinstance(app.screen, ServerScreen), what="the dashboard")


async def test_start_cancel_with_esc_and_remove_after_confirming(busybox_config, cleanup) -> None:
    config = busybox_config(command=["sh", "-c", "echo booting; sleep 1000"])
    cleanup(config.container.name)
    app = HostApp(config)
    manager = app.lifecycle
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="the Server screen")
        await wait_until(pilot, lambda: state(manager) is ServiceState.ABSENT, what="the first status")
        await pilot.press("u")
        await wait_until(
            pilot,
            lambda: manager.phase is not None and manager.phase.latest_log_line == "booting",
            what="the latest log line while waiting",
        )
        await shows(
            pilot,
            app,
            "✔ pulled",
            "✔ created",
            "✔ running",
            "waiting for HTTP",
            "booting",
            "starting… (Esc cancels)",
        )
        await pilot.press("escape")  # cancels the wait, stays on the screen
        await wait_until(pilot, lambda: manager.busy is None, what="the cancel")
        assert isinstance(app.screen, ServerScreen)
        await shows(pilot, app, "starting cancelled")
        await wait_until(pilot, lambda: state(manager) is ServiceState.RUNNING, what="running")

        # the log view has the container's line; `l` focuses it
        await pilot.press("l")
        log_pane = app.screen.query_one("#server-log", LogPane)
        assert app.focused is log_pane.view
        await wait_until(
            pilot, lambda: any("booting" in line.text for line in log_pane.view.lines), what="a log line"
        )
        assert log_pane.border_subtitle == manager.equivalent_logs_command()

        # x asks first; y removes
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the remove confirmation")
        await shows(pilot, app, "data folders are kept")
        await pilot.press("y")
        await wait_until(pilot, lambda: state(manager) is ServiceState.ABSENT, timeout=20, what="the removal")

        # ? lists the screen's keys
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await shows(pilot, app, "Server screen", "Pull the image")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ServerScreen), what="back from the help")


async def test_recreate_shows_the_changes_and_preflight_failures(busybox_config, cleanup) -> None:
    base = busybox_config(command=["sleep", "1000"], startup_timeout_s=1.0)
    cleanup(base.container.name)
    made = PodmanBackend(ContainerSpec.from_settings(base.container, False), socket_uri=base.container.socket)
    await made.start()
    await made.close()
    with socket.socket() as taken:  # a new port that something else holds
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = ContainerSettings(**{**base.container.__dict__, "cli_args": "--fast"})
        app = HostApp(base.replace(container=settings))
        manager = app.lifecycle
        async with app.run_test(size=(110, 36)) as pilot:
            await shows(pilot, app, "1 change to apply (c recreates)", "CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast")

            # u offers the recreate with the changes, as `comfytui up` does; n starts it as it is
            before = manager.status.id
            await pilot.press("u")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the recreate offer")
            await shows(pilot, app, f"Recreate {manager.name}?", "CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast")
            await pilot.press("n")
            await wait_until(pilot, lambda: manager.busy is None, timeout=30, what="the start as it is")
            assert manager.status.id == before and manager.phase.phase is Phase.FAILED  # busybox never answers HTTP
            await shows(pilot, app, "1 change to apply (c recreates)")

            # u again, y: recreated from the config, then started through the phases
            await pilot.press("u")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the recreate offer")
            await pilot.press("y")
            await wait_until(
                pilot,
                lambda: manager.busy is None and manager.status.id != before,
                timeout=30,
                what="recreate",
            )
            assert manager.changes == [] and state(manager) is ServiceState.RUNNING
            assert any(n.text.startswith(f"recreating {manager.name}") for n in app.screen.notices_seen)
            await shows(pilot, app, "the container matches the config")

            # c recreates on its own, after confirming
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await shows(pilot, app, "No change from the config is known")
            await pilot.press("n")

        # preflight failures: the port taken by another program, with the fix
        moved = ContainerSettings(
            **{**settings.__dict__, "port": port, "container_port": port, "name": settings.name + "-b"}
        )
        app = HostApp(base.replace(container=moved))
        async with app.run_test(size=(110, 36)) as pilot:
            await wait_until(pilot, lambda: app.lifecycle.status is not None, what="the first status")
            await pilot.press("P")
            await wait_until(
                pilot, lambda: app.lifecycle.preflight and app.lifecycle.busy is None, what="preflight"
            )
            await shows(
                pilot,
                app,
                f"✖ port: 127.0.0.1:{port} is already in use",
                "fix: stop what listens there",
                "✔ podman",
                "✔ image",
            )


async def test_pull_shows_byte_progress_and_esc_cancels(
    busybox_config, podman_service: PodmanService, blob_remote: str
) -> None:
    name, tag = blob_remote.rsplit(":", 1)
    app = HostApp(busybox_config(image=name, tag=tag))
    manager = app.lifecycle
    try:
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_until(pilot, lambda: manager.status is not None, what="the first status")
            await pilot.press("p")
            await wait_until(
                pilot,
                lambda: manager.pull is not None and manager.pull.status == "Downloading",
                what="a Downloading event",
            )
            await shows(pilot, app, "pulling… (Esc cancels)", "Downloading", " MiB", "layers")
            bar = app.screen.query_one("#pull-bar", ProgressBar)
            await wait_until(pilot, lambda: bar.progress > 0, what="the progress bar to move")
            await pilot.press("escape")  # cancels the pull, stays on the screen
            await wait_until(pilot, lambda: manager.busy is None, what="the cancel")
            assert isinstance(app.screen, ServerScreen)
            await shows(pilot, app, "pulling cancelled: nothing was created", "not created")
            await asyncio.to_thread(remove_image, podman_service, blob_remote)

            await pilot.press("p")
            await wait_until(pilot, lambda: manager.busy is None, timeout=60, what="the pull")
            assert manager.error is None and manager.pull.percent == 100.0
            assert bar.progress == 100.0
            await shows(pilot, app, "100.0%", "Download complete")
    finally:
        await asyncio.to_thread(remove_image, podman_service, blob_remote)
