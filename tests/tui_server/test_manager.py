"""LifecycleManager against a real, private podman engine (busybox containers, a loopback registry).

The full phase machine up to ws_connected, with the real CPU ComfyUI in a container, runs once,
through the Server screen (test_server_screen.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tui_server_helpers import remove_image

from comfytui.core.config import Config, ProcessSettings
from comfytui.core.lifecycle import (
    ContainerSpec,
    LogLine,
    Notice,
    Phase,
    PhaseChanged,
    PodmanBackend,
    ServiceState,
)
from comfytui.core.lifecycle.events import (
    BusyChanged,
    ChangesFound,
    ErrorReported,
    LifecycleEvent,
    PreflightChecked,
    PullProgress,
    StatusChanged,
)
from comfytui.core.lifecycle.manager import LifecycleManager
from harness.podman import PodmanService

pytestmark = pytest.mark.podman


class Recorder:
    """A listener that keeps every event."""

    def __init__(self) -> None:
        self.updates: list[LifecycleEvent] = []

    def __call__(self, event: LifecycleEvent) -> None:
        self.updates.append(event)

    def of[E](self, kind: type[E]) -> list[E]:
        return [u for u in self.updates if isinstance(u, kind)]

    def errors(self) -> list[str]:
        return [u.text for u in self.of(ErrorReported)]


async def until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")


def make_manager(config: Config) -> tuple[LifecycleManager, Recorder]:
    manager = LifecycleManager(config)
    recorder = Recorder()
    manager.add_listener(recorder)
    return manager, recorder


async def test_start_phases_refusal_cancel_logs_restart_stop_remove(busybox_config, cleanup):
    config = busybox_config(
        command=["sh", "-c", "echo hello; echo oops >&2; sleep 1000"], startup_timeout_s=3.0
    )
    cleanup(config.container.name)
    manager, rec = make_manager(config)
    follower = asyncio.create_task(manager.follow_logs())
    try:
        assert manager.kind == "container" and manager.busy is None
        manager.start_service()
        assert manager.busy == "starting"
        # a second intent while busy is refused, with what is running
        manager.stop_service()
        assert rec.errors()[-1] == "cannot stop now: starting is still running (Esc cancels it)"
        await until(lambda: any(p.phase is Phase.RUNNING for p in rec.of(PhaseChanged)), what="the running phase")
        changed = [p.phase for p in rec.of(PhaseChanged) if p.changed]
        assert changed[:3] == [Phase.PULLED, Phase.CREATED, Phase.RUNNING]
        checks = rec.of(PreflightChecked)[0].checks
        assert {c.name for c in checks} >= {"podman", "image", "port", "gpu"} and all(c.ok for c in checks)
        assert any("CPU mode" in n.text for n in rec.of(Notice))
        # nothing answers HTTP: cancel the wait; the container keeps running. Esc pressed twice:
        # the second lands while the cancelled start reads the status (as the listener does here)
        # and must not leave the manager "starting" for ever (the Server screen then kept
        # cancelling nothing instead of going back).

        def cancel_again(event: object) -> None:
            if isinstance(event, ErrorReported) and event.text == "starting cancelled":
                manager.cancel_operation()

        manager.add_listener(cancel_again)
        manager.cancel_operation()
        await until(lambda: manager.busy is None, what="the cancel")
        manager.remove_listener(cancel_again)
        assert manager.error == "starting cancelled"
        assert manager.status is not None and manager.status.state is ServiceState.RUNNING
        assert manager.status.managed
        # follow_logs delivers the container's lines
        await until(lambda: {"hello", "oops"} <= {line.text for line in rec.of(LogLine)}, what="log lines")
        assert any(line.stream == "stderr" and line.text == "oops" for line in rec.of(LogLine))

        # restart: waits through the phases again, and fails after the startup timeout (nothing serves)
        first_start = manager.status.started_at
        manager.restart_service()
        await until(lambda: manager.busy is None, timeout=30, what="the restart")
        assert manager.error.startswith("startup failed: ComfyUI did not answer GET")
        assert manager.phase.phase is Phase.FAILED
        assert manager.status.started_at > first_start
        # the log follower re-followed the new run without repeating the old lines
        await until(
            lambda: [line.text for line in rec.of(LogLine)].count("hello") == 2, what="the 2nd run's log"
        )
        await asyncio.sleep(0.5)
        assert [line.text for line in rec.of(LogLine)].count("hello") == 2

        manager.stop_service()
        await until(lambda: manager.busy is None, what="the stop")
        assert manager.error is None
        assert manager.status.state is ServiceState.EXITED and manager.status.exit_code is not None
        manager.remove_service()
        await until(lambda: manager.busy is None, what="the remove")
        assert manager.status.state is ServiceState.ABSENT
        busy = [e.busy for e in rec.of(BusyChanged)]
        assert busy.count(None) == 4 and {"starting", "restarting", "stopping", "removing"} <= set(busy)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await manager.aclose()


async def test_exit_during_start_reports_code_and_last_lines(busybox_config, cleanup):
    config = busybox_config(command=["sh", "-c", "echo starting; echo 'fatal: no GPU' >&2; exit 7"])
    cleanup(config.container.name)
    manager, rec = make_manager(config)
    try:
        manager.start_service()
        await until(lambda: manager.busy is None, what="the failed start")
        assert manager.phase.phase is Phase.FAILED
        assert "exit code 7" in manager.error and "fatal: no GPU" in manager.error
        assert rec.errors()[-1] == manager.error
        assert manager.status.state is ServiceState.EXITED and manager.status.exit_code == 7
    finally:
        await manager.aclose()


async def test_port_taken_is_reported_as_updates_without_exceptions(busybox_config, cleanup):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        config = busybox_config(port=port, container_port=port)
        cleanup(config.container.name)
        manager, rec = make_manager(config)
        try:
            manager.run_preflight()
            await until(lambda: manager.busy is None, what="the preflight")
            port_check = {c.name: c for c in manager.preflight}["port"]
            assert not port_check.ok and port_check.blocking and "ss -ltnp" in port_check.fix
            assert f"127.0.0.1:{port} is already in use" in manager.error

            manager.start_service()
            await until(lambda: manager.busy is None, what="the refused start")
            assert manager.error.startswith("preflight failed:\n✖ port:")
            assert rec.of(PhaseChanged) == []  # nothing was created or started
            assert manager.status.state is ServiceState.ABSENT
        finally:
            await manager.aclose()


async def test_podman_absent_status_unknown_and_errors(busybox_config, tmp_path: Path):
    manager, rec = make_manager(busybox_config(socket=str(tmp_path / "no.sock")))
    watcher = asyncio.create_task(manager.watch_status(interval_s=0.2))
    try:
        await until(lambda: len(rec.of(StatusChanged)) >= 2, what="two status refreshes")
        status = manager.status
        assert status.state is ServiceState.UNKNOWN and "cannot reach the podman API" in status.detail
        assert "systemctl --user enable --now podman.socket" in manager.error
        assert len(rec.errors()) == 1  # reported once, not at every refresh
        assert not watcher.done()
        manager.start_service()
        await until(lambda: manager.busy is None, what="the refused start")
        assert manager.preflight[0].name == "podman" and not manager.preflight[0].ok
        assert "cannot reach the podman API" in manager.error
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await manager.aclose()


async def test_changed_spec_is_reported_then_recreated(busybox_config, cleanup):
    config = busybox_config(command=["sleep", "1000"], startup_timeout_s=2.0)
    cleanup(config.container.name)
    settings = config.container
    made = PodmanBackend(ContainerSpec.from_settings(settings, False), socket_uri=settings.socket)
    await made.start()
    before = (await made.status()).id
    await made.close()

    changed = config.replace(container=type(settings)(**{**settings.__dict__, "cli_args": "--fast"}))
    manager, rec = make_manager(changed)
    try:
        await manager.refresh_status()
        assert [str(c) for c in manager.changes] == ["CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast --cpu --listen 127.0.0.1'"]
        assert list(rec.of(ChangesFound)[-1].changes) == manager.changes
        # start refuses to recreate by itself
        manager.start_service()
        await until(lambda: manager.busy is None, what="the refused start")
        assert "differs from the config (1 change)" in manager.error and "(c)" in manager.error
        assert rec.of(PhaseChanged) == []
        # offered the recreate and declined: the existing container is started as it is
        asked: list[list[str]] = []

        async def decline(changes) -> bool:
            asked.append([str(c) for c in changes])
            return False

        finished = await manager.start_service(confirm_recreate=decline)
        assert asked == [["CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast --cpu --listen 127.0.0.1'"]]
        assert manager.status.id == before and Phase.RUNNING in [p.phase for p in rec.of(PhaseChanged)]
        assert not finished.ok and finished.error.startswith("startup failed")  # sleep never answers HTTP

        manager.recreate_service()
        await until(lambda: manager.busy is None, timeout=30, what="the recreate")
        assert manager.status.id != before and manager.changes == []
        assert manager.status.state is ServiceState.RUNNING
        assert [p.phase for p in rec.of(PhaseChanged) if p.changed][:3] == [
            Phase.PULLED,
            Phase.CREATED,
            Phase.RUNNING,
        ]
        assert any("recreated" in n.text and "--fast" in n.text for n in rec.of(Notice))
        inspect = await manager.backend.inspect()
        assert "CLI_ARGS=--fast --cpu --listen 127.0.0.1" in inspect["Config"]["Env"]
    finally:
        await manager.aclose()


async def test_pull_with_progress_and_cancel(busybox_config, podman_service: PodmanService, blob_remote: str):
    remote = blob_remote
    name, tag = remote.rsplit(":", 1)
    manager, rec = make_manager(busybox_config(image=name, tag=tag))
    try:
        manager.pull_image()
        assert manager.busy == "pulling"
        manager.run_preflight()  # refused while pulling
        assert (
            rec.errors()[-1] == "cannot run the preflight now: pulling is still running (Esc cancels it)"
        )
        await until(lambda: rec.of(PullProgress), what="a pull event")
        manager.cancel_operation()
        await until(lambda: manager.busy is None, what="the cancel")
        assert manager.error == "pulling cancelled: nothing was created"
        assert manager.status.state is ServiceState.ABSENT
        await asyncio.to_thread(remove_image, podman_service, remote)

        rec.updates.clear()
        manager.pull_image()
        await until(lambda: manager.busy is None, timeout=60, what="the pull")
        assert manager.error is None
        events = rec.of(PullProgress)
        downloading = [e for e in events if e.status == "Downloading"]
        assert downloading and downloading[0].total and 0 < downloading[0].current <= downloading[0].total
        assert manager.pull.percent == 100.0 and manager.pull.layers_done == manager.pull.layers_total
        assert any(n.text == f"pulled {remote}" for n in rec.of(Notice))
        assert await manager.backend.image_present()
    finally:
        await asyncio.to_thread(remove_image, podman_service, remote)
        await manager.aclose()


def test_equivalent_logs_command_and_bad_config(busybox_config, tmp_path: Path):
    config = busybox_config()
    manager = LifecycleManager(config)
    assert manager.equivalent_logs_command() == (
        f"podman --url {config.container.socket} logs -f --tail 200 {config.container.name}"
    )
    process = LifecycleManager(Config(backend="process", process=ProcessSettings(comfyui_dir=str(tmp_path))))
    assert process.kind == "process"
    assert process.equivalent_logs_command().startswith("tail -n 200 -f ")
    assert process.equivalent_logs_command().endswith("/process/comfyui.log")
    # a process backend without a ComfyUI dir: the manager still builds, intents report the error
    broken = LifecycleManager(Config(backend="process"))
    rec = Recorder()
    broken.add_listener(rec)
    broken.start_service()
    assert broken.backend is None and "process.comfyui_dir" in rec.errors()[0]
    broken.pull_image()
    assert len(rec.errors()) == 2
