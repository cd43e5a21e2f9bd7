"""Podman fixtures shared by the test folders that need a real engine. A conftest imports the
ones it uses (``from harness.podman_fixtures import podman_service``); each folder then gets its
own session-scoped engine, so folders cannot disturb each other's images and containers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.components import require
from harness.podman import (
    BUSYBOX_INSTALL,
    PODMAN_INSTALL,
    REGISTRY_INSTALL,
    PodmanService,
    Registry,
    busybox_path,
    comfy_cpu_paths,
    import_busybox,
    podman_available,
    registry_available,
)

BUSYBOX = "localhost/busybox:test"


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory):
    """A private ``podman system service`` on a socket in a temp dir, with the busybox image."""
    require("podman", podman_available(), PODMAN_INSTALL)
    require("busybox", busybox_path() is not None, BUSYBOX_INSTALL)
    service = PodmanService.start(tmp_path_factory.mktemp("podman"))
    try:
        import_busybox(service, BUSYBOX)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def registry(podman_service: PodmanService, tmp_path_factory: pytest.TempPathFactory):
    """A real registry (docker-registry) on loopback, for pulls with byte progress."""
    require("docker-registry", registry_available(), REGISTRY_INSTALL)
    reg = Registry.start(tmp_path_factory.mktemp("registry"), podman_service.registry_port)
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def comfy() -> dict[str, str]:
    """The CPU ComfyUI tree and python (scripts/comfy-cpu), for running it inside a container."""
    info = comfy_cpu_paths(Path(__file__).resolve().parents[2])
    require("ComfyUI (CPU)", info is not None, "scripts/comfy-cpu install")
    assert info is not None
    # Inside a container the tree is mounted read-only: compile it once here (~2 s, then cached
    # in the tree) so each containerised start does not compile ComfyUI again.
    subprocess.run(
        [info["python"], "-m", "compileall", "-q", "-j", "2", info["tree"]], capture_output=True, check=False
    )
    return info
