"""What the UI works with, built once by the App and handed to every screen in its constructor.

Screens and widgets take ``Services`` (or the one part they need) instead of reaching into
``self.app``: what a screen depends on is in its signature, and a test builds a screen with the
same object the app uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate, Protocol

if TYPE_CHECKING:
    from comfytui.core.comfy.session import ComfySession
    from comfytui.core.comfy.stats import SystemStatsPoller
    from comfytui.core.config import Config
    from comfytui.core.gpu.feed import GpuFeed
    from comfytui.core.lifecycle.manager import LifecycleManager
    from comfytui.core.store.db import Store

READ_ONLY_MESSAGE = "read-only mode: this would change the server"


@dataclass(frozen=True)
class Services:
    """The app's long-lived parts: one of each for the whole app."""

    config: Config
    session: ComfySession
    gpu_feed: GpuFeed
    """The one NVML sampling loop; the Devices pane and the GPU screen subscribe."""
    stats_poller: SystemStatsPoller
    """The one ``/system_stats`` poll; the Devices pane and the GPU screen subscribe."""
    lifecycle: LifecycleManager | None = None
    """The container/process manager; None when comfytui does not manage ComfyUI (``backend = "none"``)."""
    readonly: bool = False
    """``--readonly``: every action that would change the server is refused."""
    store: Store | None = None
    """The job store (local queue and history, docs/QUEUE.md); None where it could not be opened."""

    @property
    def managed_container(self) -> str:
        return self.config.container.name


class _Notifies(Protocol):
    def notify(self, message: str, *, severity: Any = ...) -> None: ...


def refuse_if_readonly(services: Services, where: _Notifies) -> bool:
    """True (after telling the user) when read-only mode forbids changing the server."""
    if services.readonly:
        where.notify(READ_ONLY_MESSAGE, severity="warning")
    return services.readonly


class _HasServices(_Notifies, Protocol):
    services: Services


def changes_server[S: _HasServices, **P, R](
    method: Callable[Concatenate[S, P], Awaitable[R | None]],
) -> Callable[Concatenate[S, P], Awaitable[R | None]]:
    """Decorate an async action that changes the server: in read-only mode it only says so."""

    @wraps(method)
    async def guarded(self: S, *args: P.args, **kwargs: P.kwargs) -> R | None:
        if refuse_if_readonly(self.services, self):
            return None
        return await method(self, *args, **kwargs)

    return guarded
