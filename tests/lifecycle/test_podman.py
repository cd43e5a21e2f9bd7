"""PodmanBackend against a real, private podman engine (tests/harness/podman.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import httpx
import pytest

from comfytui.core.config import ContainerSettings
from comfytui.core.errors import LifecycleError
from comfytui.core.lifecycle import (
    ContainerSpec,
    Phase,
    PodmanBackend,
    ServiceState,
    StartupFailed,
    blocking_failures,
    startup,
)
from harness.podman import PodmanService, Registry, comfy_container_values, make_blob_image

pytestmark = pytest.mark.podman

TICKER = (
    "echo hello; echo oops >&2; echo kept > /root/ComfyUI/output/from-container.txt; "
    "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"
)


def backend_for(settings: ContainerSettings, gpu_present: bool = False) -> PodmanBackend:
    return PodmanBackend(
        ContainerSpec.from_settings(settings, gpu_present), socket_uri=settings.socket, settings=settings
    )


async def test_socket_absent_gives_the_fix(tmp_path: Path):
    backend = PodmanBackend(
        ContainerSpec.from_settings(ContainerSettings(), False), socket_uri=str(tmp_path / "no.sock")
    )
    with pytest.raises(LifecycleError) as info:
        await backend.status()
    message = str(info.value)
    assert "cannot reach the podman API" in message
    assert "systemctl --user enable --now podman.socket" in message
    assert "podman system service" in message
    checks = await backend.preflight()
    assert [c.name for c in checks] == ["podman"] and not checks[0].ok and checks[0].fix.startswith("enable")


async def test_create_start_logs_restart_stop_remove(busybox_settings, tmp_path: Path):
    settings = busybox_settings(command=["sh", "-c", TICKER])
    backend = backend_for(settings)
    try:
        assert (await backend.status()).state is ServiceState.ABSENT
        checks = await backend.preflight()
        assert not blocking_failures(checks), checks
        await backend.create()
        status = await backend.status()
        assert status.state is ServiceState.CREATED and status.managed
        assert status.spec_hash == backend.spec.spec_hash
        # the request carries the loopback binding even though host networking drops it
        assert backend.spec.create_kwargs()["ports"] == {
            f"{settings.container_port}/tcp": ("127.0.0.1", settings.port)
        }
        assert status.network_mode == "host"
        output = tmp_path / "storage" / "storage-user" / "output"
        assert output.is_dir()  # host dirs created for the data mounts
        assert {m.destination: m.source for m in status.mounts}["/root/ComfyUI/output"] == str(output)

        await backend.start()
        status = await backend.status()
        assert status.state is ServiceState.RUNNING and status.pid and status.uptime_s is not None
        first_start = status.started_at
        await backend.start()  # idempotent

        lines = []
        async with contextlib.aclosing(backend.logs(follow=True)) as stream:
            async for line in stream:
                lines.append(line)
                if sum(1 for x in lines if x.text.startswith("tick")) >= 3:
                    break
        texts = [x.text for x in lines]
        assert texts[0] == "hello"
        assert any(x.stream == "stderr" and x.text == "oops" for x in lines)
        assert all(x.time is not None for x in lines)
        assert (output / "from-container.txt").read_text() == "kept\n"

        tail = [x async for x in backend.logs(tail=2)]
        assert len(tail) == 2 and all(x.text.startswith("tick") for x in tail)

        t0 = time.monotonic()
        await backend.restart(timeout=2)
        status = await backend.status()
        assert status.state is ServiceState.RUNNING and status.started_at > first_start
        await backend.stop(timeout=2)
        assert time.monotonic() - t0 < 6
        status = await backend.status()
        assert status.state is ServiceState.EXITED and status.exit_code is not None
        await backend.stop()  # stopping a stopped container is fine
        await backend.remove()
        assert (await backend.status()).state is ServiceState.ABSENT
        assert (output / "from-container.txt").exists()  # host data survives the container
    finally:
        with contextlib.suppress(Exception):
            await backend.remove()
        await backend.close()


async def test_recreate_when_the_spec_changed(busybox_settings):
    settings = busybox_settings(command=["sleep", "1000"])
    backend = backend_for(settings)
    try:
        await backend.start()
        assert await backend.diff() == []
        changed = backend_for(
            ContainerSettings(
                **{
                    **settings.__dict__,
                    "cli_args": "--fast",
                    "port": settings.port + 1,
                    "env": {"HF_TOKEN": "secret-value"},
                }
            )
        )
        changes = [str(c) for c in await changed.diff()]
        assert f"port {settings.port}→{settings.port + 1}" in changes
        assert "CLI_ARGS '--cpu --listen 127.0.0.1' → '--fast --cpu --listen 127.0.0.1'" in changes
        assert "env HF_TOKEN (unset) → '****'" in changes
        before = (await backend.status()).id
        returned = await changed.recreate(start=True)
        assert [str(c) for c in returned] == changes
        after = await changed.status()
        assert after.id != before and after.state is ServiceState.RUNNING
        assert await changed.diff() == []
        inspect = await changed.inspect()
        assert "CLI_ARGS=--fast --cpu --listen 127.0.0.1" in inspect["Config"]["Env"]
    finally:
        with contextlib.suppress(Exception):
            await backend.remove()
        await backend.close()


async def test_container_not_made_by_comfytui_is_left_alone(busybox_settings, podman_service: PodmanService):
    settings = busybox_settings()
    podman_service.podman("create", "--name", settings.name, "localhost/busybox:test", "sleep", "100")
    backend = backend_for(settings)
    try:
        status = await backend.status()
        assert status.state is ServiceState.CREATED and not status.managed
        assert await backend.diff()  # differs: no spec label, fields read from inspect
        with pytest.raises(LifecycleError, match="not created by comfytui"):
            await backend.remove()
        with pytest.raises(LifecycleError, match="not created by comfytui"):
            await backend.recreate()
        assert (await backend.status()).state is ServiceState.CREATED
    finally:
        podman_service.podman("rm", "-f", settings.name, check=False)
        await backend.close()


async def test_exit_during_startup_reports_code_and_last_lines(busybox_settings):
    settings = busybox_settings(command=["sh", "-c", "echo starting; echo 'fatal: no GPU' >&2; exit 7"])
    backend = backend_for(settings)
    events = []
    try:
        with pytest.raises(StartupFailed) as info:
            async for event in startup(backend, timeout_s=30):
                events.append(event)
        assert [e.phase for e in events if e.changed] == [
            Phase.PULLED,
            Phase.CREATED,
            Phase.RUNNING,
            Phase.FAILED,
        ]
        assert events[-1].error is info.value
        assert info.value.container_exit_code == 7
        assert info.value.last_lines[-2:] == ["starting", "fatal: no GPU"]
        assert "exit code 7" in str(info.value) and "fatal: no GPU" in str(info.value)
    finally:
        await backend.remove()
        await backend.close()


async def test_startup_retries_then_fails(busybox_settings):
    settings = busybox_settings(command=["sh", "-c", "echo try; exit 3"])
    backend = backend_for(settings)
    events = []
    try:
        with pytest.raises(StartupFailed):
            async for event in startup(backend, timeout_s=30, retries=1):
                events.append(event)
        assert [e.attempt for e in events if e.phase is Phase.RUNNING and e.changed] == [1, 2]
        assert any("retry 1/1" in e.detail for e in events)
    finally:
        await backend.remove()
        await backend.close()


async def test_missing_image(busybox_settings):
    backend = backend_for(busybox_settings(image="localhost/does-not-exist", tag="1"))
    try:
        checks = {c.name: c for c in await backend.preflight()}
        assert (
            not checks["image"].ok and not checks["image"].blocking and "comfytui pull" in checks["image"].fix
        )
        with pytest.raises(LifecycleError, match="is not present"):
            await backend.create()
        with pytest.raises(StartupFailed, match="is not present"):
            async for _ in startup(backend, timeout_s=5):
                pass
        assert (await backend.status()).state is ServiceState.ABSENT
    finally:
        await backend.close()


async def test_port_already_taken_fails_preflight(busybox_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        backend = backend_for(busybox_settings(port=port, container_port=port))
        try:
            checks = {c.name: c for c in await backend.preflight()}
        finally:
            await backend.close()
    assert not checks["port"].ok and checks["port"].blocking
    assert f"127.0.0.1:{port} is already in use" in checks["port"].message


async def test_pull_with_byte_progress_cancel_and_missing_tag(
    busybox_settings, podman_service: PodmanService, registry: Registry
):
    make_blob_image(podman_service, "localhost/blob:1", 40 << 20)  # ~2.5 s through the 16 MB/s proxy
    remote = registry.push(podman_service, "localhost/blob:1", "blob:1")
    podman_service.podman("rmi", "localhost/blob:1")
    name, tag = remote.rsplit(":", 1)
    settings = busybox_settings(image=name, tag=tag)
    backend = backend_for(settings)
    try:
        # cancel after the first event: nothing is created, the stream closes promptly
        t0 = time.monotonic()
        async with contextlib.aclosing(backend.pull()) as stream:
            async for _event in stream:
                break
        assert time.monotonic() - t0 < 10
        assert (await backend.status()).state is ServiceState.ABSENT
        for _ in range(50):  # podman may finish a pull it had started; start from a clean slate
            if podman_service.podman("image", "exists", remote, check=False).returncode == 0:
                podman_service.podman("rmi", "-f", remote, check=False)
            await asyncio.sleep(0.1)
            if podman_service.podman("image", "exists", remote, check=False).returncode != 0:
                break

        events = [e async for e in backend.pull()]
        assert await backend.image_present()
        statuses = {e.status for e in events}
        assert "Pulling fs layer" in statuses and "Download complete" in statuses
        downloading = [e for e in events if e.status == "Downloading"]
        assert downloading and downloading[0].total and 0 < downloading[0].current <= downloading[0].total
        assert all(e.layer for e in downloading)
        assert events[-1].percent == 100.0 and events[-1].layers_done == events[-1].layers_total

        with pytest.raises(LifecycleError, match="manifest unknown"):
            async for _ in backend.pull(f"{name}:no-such-tag"):
                pass
    finally:
        podman_service.podman("rmi", "-f", remote, check=False)
        await backend.close()


@pytest.mark.comfy
async def test_real_comfyui_in_a_container_reaches_ws_connected(
    comfy, podman_service: PodmanService, tmp_path: Path, unique_name: str
):
    settings = ContainerSettings(
        **comfy_container_values(comfy, podman_service.uri, tmp_path / "base", unique_name)
    )
    backend = backend_for(settings)
    events = []
    try:
        async for event in startup(backend, timeout_s=settings.startup_timeout_s):
            events.append(event)
        phases = [e.phase for e in events if e.changed]
        assert phases == [Phase.PULLED, Phase.CREATED, Phase.RUNNING, Phase.HTTP_READY, Phase.WS_CONNECTED]
        async with httpx.AsyncClient() as client:
            stats = (await client.get(backend.url + "/system_stats")).json()
        assert "--cpu" in stats["system"]["argv"]
        status = await backend.status()
        assert status.state is ServiceState.RUNNING and status.uptime_s > 0
        lines = [line.text async for line in backend.logs(tail=50)]
        assert any("To see the GUI go to" in t or "Starting server" in t for t in lines), lines[-10:]
        t0 = time.monotonic()
        await backend.stop()
        assert time.monotonic() - t0 < 5
        assert (await backend.status()).state is ServiceState.EXITED
    finally:
        with contextlib.suppress(Exception):
            await backend.remove()
        await backend.close()
