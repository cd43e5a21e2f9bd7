"""Two private CPU ComfyUI servers for the dashboard's fleet tests, a member config for each, and
the remote host of tests/fleet_podman (a podman engine behind a real loopback sshd, busybox in a
loopback registry) for the dashboard's ``--server remote`` test."""

from __future__ import annotations

from typing import Any

import pytest

from comfytui.core.config import Config, ReconnectSettings
from fleet_podman.conftest import remote_host, sshd  # noqa: F401 (fixtures)


def member(url: str, **changes: Any) -> Config:
    """A fleet member's config for a dashboard test: quick reconnects, halfcell previews."""
    config = Config().with_server(url=url)
    return config.replace(
        reconnect=ReconnectSettings(base_delay_s=0.1, max_delay_s=0.5),
        ui=type(config.ui)(image_protocol="halfcell", preview_max_fps=10.0),
        **changes,
    )


@pytest.fixture
def two_servers(comfy_server_factory, comfytui_home):
    return comfy_server_factory(), comfy_server_factory()
