"""Fixtures for the lifecycle tests: a private podman engine, a busybox image, a loopback registry,
the real CPU ComfyUI (scripts/comfy-cpu) and settings pointing at them."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from comfytui.core.config import ContainerSettings
from harness.components import require
from harness.podman import (
    BUSYBOX_INSTALL,
    PODMAN_INSTALL,
    REGISTRY_INSTALL,
    PodmanService,
    Registry,
    busybox_path,
    comfy_cpu_paths,
    free_port,
    import_busybox,
    podman_available,
    registry_available,
)

BUSYBOX = "localhost/busybox:test"
_names = itertools.count()


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory):
    require("podman", podman_available(), PODMAN_INSTALL)
    require("busybox", busybox_path() is not None, BUSYBOX_INSTALL)
    tmp = tmp_path_factory.mktemp("podman")
    service = PodmanService.start(tmp)
    try:
        import_busybox(service, BUSYBOX)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def registry(podman_service: PodmanService, tmp_path_factory: pytest.TempPathFactory):
    require("docker-registry", registry_available(), REGISTRY_INSTALL)
    reg = Registry.start(tmp_path_factory.mktemp("registry"), podman_service.registry_port)
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def comfy() -> dict[str, str]:
    info = comfy_cpu_paths(Path(__file__).resolve().parents[2])
    require("ComfyUI (CPU)", info is not None, "scripts/comfy-cpu install")
    assert info is not None
    # Inside a container the tree is mounted read-only: compile it once here (~2 s, then cached
    # in the tree) so each containerised start does not compile ComfyUI again.
    subprocess.run(
        [info["python"], "-m", "compileall", "-q", "-j", "2", info["tree"]], capture_output=True, check=False
    )
    return info


@pytest.fixture
def unique_name() -> str:
    return f"ctui-{os.getpid()}-{next(_names)}"


@pytest.fixture
def busybox_settings(podman_service: PodmanService, tmp_path: Path, unique_name: str):
    """Settings for a busybox container on the test engine (host network, CPU, host dirs in tmp)."""

    def make(**changes) -> ContainerSettings:
        port = free_port()
        values = dict(
            socket=podman_service.uri,
            image="localhost/busybox",
            tag="test",
            name=unique_name,
            port=port,
            container_port=port,
            network="host",
            gpu="none",
            storage=str(tmp_path / "storage"),
            stop_timeout_s=5,
        )
        values.update(changes)
        return ContainerSettings(**values)

    return make
