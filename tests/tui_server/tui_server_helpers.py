"""Helpers shared by the Server screen and lifecycle manager tests."""

from __future__ import annotations

import time

from harness.podman import PodmanService


def remove_image(service: PodmanService, ref: str) -> None:
    """Remove ``ref``, also when a cancelled pull finishes it a moment later."""
    for _ in range(50):
        if service.podman("image", "exists", ref, check=False).returncode == 0:
            service.podman("rmi", "-f", ref, check=False)
        time.sleep(0.1)
        if service.podman("image", "exists", ref, check=False).returncode != 0:
            return
