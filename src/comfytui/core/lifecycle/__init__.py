"""Lifecycle of the managed ComfyUI: a podman container or a bare process.

The public API (no Textual, no Rich; everything async):

- ``make_backend(config)`` → a ``Backend`` (``PodmanBackend`` or ``ProcessBackend``);
- ``Backend``: ``status()``, ``start()``, ``stop(timeout)``, ``restart()``, ``remove()``,
  ``logs(follow, since, tail)``, ``preflight()``, ``create()``, ``image_present()``;
- ``PodmanBackend`` also: ``pull()`` (``PullProgress`` events), ``diff()``, ``recreate()``, ``inspect()``;
- ``ContainerSpec.from_settings(settings, gpu_present)``, ``spec.diff(inspect)`` → ``Change``s;
- ``startup(backend, ...)`` → ``PhaseChanged`` events, ``StartupFailed`` on failure;
- ``LifecycleManager`` (in ``manager``): the one place that starts, stops, restarts and recreates
  (the Server screen and ``comfytui up/down/restart`` call it); its listeners get the typed
  events of ``events`` (``StatusChanged``, ``BusyChanged``, ``PhaseChanged``, ``OperationFinished`` ...).

May import: `comfytui.core.config`, `.errors`, `.paths`, `.logs`, and the ComfyUI room's client
(the readiness probe). Never workflows, gpu or models, never Textual or Rich.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from comfytui.core.lifecycle.types import (
    MANAGED_LABEL,
    SPEC_HASH_LABEL,
    Change,
    LogLine,
    MountInfo,
    Notice,
    Phase,
    PhaseChanged,
    PortBinding,
    PreflightCheck,
    PullProgress,
    ServiceState,
    ServiceStatus,
    StartupFailed,
)

if TYPE_CHECKING:
    from comfytui.core.config import Config
    from comfytui.core.lifecycle.backend import Backend
    from comfytui.core.lifecycle.phases import startup
    from comfytui.core.lifecycle.podman_backend import PodmanBackend, socket_candidates
    from comfytui.core.lifecycle.preflight import blocking_failures
    from comfytui.core.lifecycle.process import ProcessBackend
    from comfytui.core.lifecycle.spec import ContainerSpec, detect_gpu

# The backends are imported on first use (PEP 562): importing ``lifecycle.types`` or
# ``lifecycle.events`` (the dashboard does, before its first frame) must not load podman and
# process machinery.
_LAZY = {
    "Backend": "comfytui.core.lifecycle.backend",
    "startup": "comfytui.core.lifecycle.phases",
    "PodmanBackend": "comfytui.core.lifecycle.podman_backend",
    "socket_candidates": "comfytui.core.lifecycle.podman_backend",
    "blocking_failures": "comfytui.core.lifecycle.preflight",
    "ProcessBackend": "comfytui.core.lifecycle.process",
    "ContainerSpec": "comfytui.core.lifecycle.spec",
    "detect_gpu": "comfytui.core.lifecycle.spec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def backend_kind(config: Config) -> Literal["container", "process"]:
    """The lifecycle commands manage a container unless the config says ``backend = "process"``."""
    return "process" if config.backend == "process" else "container"


def make_backend(config: Config, gpu_present: bool | None = None) -> PodmanBackend | ProcessBackend:
    if backend_kind(config) == "process":
        from comfytui.core.lifecycle.process import ProcessBackend

        return ProcessBackend(config.process)
    from comfytui.core.lifecycle.podman_backend import PodmanBackend

    return PodmanBackend.from_config(config, gpu_present=gpu_present)


__all__ = [
    "MANAGED_LABEL",
    "SPEC_HASH_LABEL",
    "Backend",
    "Change",
    "ContainerSpec",
    "LogLine",
    "MountInfo",
    "Notice",
    "Phase",
    "PhaseChanged",
    "PodmanBackend",
    "PortBinding",
    "PreflightCheck",
    "ProcessBackend",
    "PullProgress",
    "ServiceState",
    "ServiceStatus",
    "StartupFailed",
    "backend_kind",
    "blocking_failures",
    "detect_gpu",
    "make_backend",
    "socket_candidates",
    "startup",
]
