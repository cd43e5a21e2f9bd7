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
    busybox_values,
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
        values = busybox_values(podman_service.uri, unique_name, tmp_path / "storage", **changes)
        return ContainerSettings(**values)

    return make
