"""The ``Backend`` protocol: what the TUI and the headless commands need from a managed ComfyUI.

Two implementations: ``PodmanBackend`` (a container through the podman API socket) and
``ProcessBackend`` (a bare ``python main.py`` started by comfytui). Every method is async; the
blocking podman-py calls run in worker threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from comfytui.core.lifecycle.types import LogLine, PreflightCheck, ServiceStatus


@runtime_checkable
class Backend(Protocol):
    kind: Literal["container", "process"]
    name: str

    @property
    def url(self) -> str:
        """Where ComfyUI answers once it runs (``http://127.0.0.1:8188``)."""
        ...

    @property
    def image(self) -> str:
        """What runs: the image reference, or the ComfyUI ``main.py`` of a process."""
        ...

    async def status(self) -> ServiceStatus: ...

    async def image_present(self) -> bool:
        """The image is in local storage (container) / the ComfyUI tree exists (process)."""
        ...

    async def create(self) -> None:
        """Create the container if it does not exist (a process has nothing to create)."""
        ...

    async def start(self) -> None:
        """Start it (creating the container first when absent); a running one is left alone."""
        ...

    async def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (default from the config)."""
        ...

    async def restart(self, timeout: float | None = None) -> None: ...

    async def remove(self) -> None:
        """Stop and remove the container / forget the process's state (logs are kept)."""
        ...

    def logs(
        self, follow: bool = False, since: datetime | None = None, tail: int | None = None
    ) -> AsyncIterator[LogLine]: ...

    async def preflight(self) -> list[PreflightCheck]: ...

    async def close(self) -> None: ...
