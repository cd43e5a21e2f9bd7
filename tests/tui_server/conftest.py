"""Fixtures for the lifecycle manager and the Server screen: a private podman engine with the
busybox image, a loopback registry, the real CPU ComfyUI, and configs pointing at them.

Built from ``harness.podman`` like tests/lifecycle/conftest.py (same helpers, same settings)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from comfytui.core.config import Config, ContainerSettings
from harness.podman import (
    PodmanService,
    Registry,
    busybox_values,
    make_blob_image,
)
from harness.podman_fixtures import BUSYBOX, comfy, podman_service, registry  # noqa: F401 (fixtures)

_names = itertools.count()


@pytest.fixture(scope="session")
def blob_remote(podman_service: PodmanService, registry: Registry) -> str:
    """A one-layer 40 MB image in the loopback registry (~2.5 s to pull through its 16 MB/s proxy),
    absent from local storage; tests that pull it remove it again."""
    make_blob_image(podman_service, "localhost/blob:ui", 40 << 20)
    remote = registry.push(podman_service, "localhost/blob:ui", "blobui:1")
    podman_service.podman("rmi", "localhost/blob:ui")
    return remote


@pytest.fixture
def unique_name() -> str:
    return f"ctui-srv-{os.getpid()}-{next(_names)}"


@pytest.fixture
def busybox_config(podman_service: PodmanService, tmp_path: Path, unique_name: str, comfytui_home: Path):
    """``make(**container_changes) -> Config``: backend "container", a busybox container on the
    test engine (host network, CPU, host dirs in tmp, short timeouts)."""

    def make(**changes) -> Config:
        values = busybox_values(
            podman_service.uri,
            unique_name,
            tmp_path / "storage",
            **{"stop_timeout_s": 2, "startup_timeout_s": 60.0, **changes},
        )
        return Config(backend="container", container=ContainerSettings(**values))

    return make


@pytest.fixture
def cleanup(podman_service: PodmanService) -> Callable[[str], None]:
    """Register container names to force-remove after the test."""
    names: list[str] = []
    yield names.append
    for name in names:
        podman_service.podman("rm", "-f", "-t", "0", name, check=False)
