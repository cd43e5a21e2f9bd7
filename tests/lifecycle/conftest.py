"""Fixtures for the lifecycle tests: a private podman engine, a busybox image, a loopback registry,
the real CPU ComfyUI (scripts/comfy-cpu) and settings pointing at them."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from comfytui.core.config import ContainerSettings
from harness.podman import (
    PodmanService,
    free_port,
)
from harness.podman_fixtures import BUSYBOX, comfy, podman_service, registry  # noqa: F401 (fixtures)

_names = itertools.count()


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
