"""Fixtures for the fleet's podman tests: a local engine (one container per GPU), and a second
engine on "another host": its own ``podman system service`` reached only through a real sshd on
loopback, with a loopback registry holding the busybox image."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.components import require
from harness.podman import (
    BUSYBOX_INSTALL,
    PODMAN_INSTALL,
    REGISTRY_INSTALL,
    PodmanService,
    Registry,
    busybox_path,
    import_busybox,
    podman_available,
    registry_available,
)
from harness.podman_fixtures import comfy, podman_service  # noqa: F401 (fixtures)
from harness.sshd import SSHD_INSTALL, Sshd, sshd_available


@dataclass
class RemoteHost:
    """The other host: its podman service, the sshd in front of it, and an image in its registry."""

    service: PodmanService
    sshd: Sshd
    registry: Registry
    image: str  # 127.0.0.1:PORT/comfytui/busybox (in the registry only, not yet in the engine)
    tag: str

    @property
    def socket_url(self) -> str:
        return self.sshd.url(self.service.socket_path)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    require("sshd", sshd_available(), SSHD_INSTALL)
    server = Sshd.start(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def remote_host(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteHost]:
    require("podman", podman_available(), PODMAN_INSTALL)
    require("busybox", busybox_path() is not None, BUSYBOX_INSTALL)
    require("docker-registry", registry_available(), REGISTRY_INSTALL)
    service = PodmanService.start(tmp_path_factory.mktemp("remote-podman"))
    registry = None
    try:
        registry = Registry.start(tmp_path_factory.mktemp("remote-registry"), service.registry_port)
        local = import_busybox(service, "localhost/busybox:remote")
        remote = registry.push(service, local, "comfytui/busybox:fleet")
        service.podman("rmi", "-f", local, remote, check=False)  # only the registry has it now
        image, tag = remote.rsplit(":", 1)
        yield RemoteHost(service, sshd, registry, image, tag)
    finally:
        if registry is not None:
            registry.stop()
        service.stop()
