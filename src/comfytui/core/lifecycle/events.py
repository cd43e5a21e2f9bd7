"""What ``LifecycleManager`` tells its listeners: a small union of frozen dataclasses.

A listener matches on the type (``match event: case StatusChanged(status=s): ...``); the value
types the backends already produce (``PhaseChanged``, ``PullProgress``, ``LogLine``, ``Notice``)
are events as they are, so nothing is wrapped twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from comfytui.core.lifecycle.types import (
    Change,
    LogLine,
    Notice,
    PhaseChanged,
    PreflightCheck,
    PullProgress,
    ServiceStatus,
)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A fresh status was read (by ``watch_status`` or after an operation)."""

    status: ServiceStatus


@dataclass(frozen=True, slots=True)
class BusyChanged:
    """The operation now running ("starting", "pulling", "recreating" ...); None when it ended."""

    busy: str | None


@dataclass(frozen=True, slots=True)
class PreflightChecked:
    checks: tuple[PreflightCheck, ...]


@dataclass(frozen=True, slots=True)
class ChangesFound:
    """How the existing container differs from the config (empty: it matches, or is gone)."""

    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class ErrorReported:
    """A failure or a refused intent, as text to show a user."""

    text: str


@dataclass(frozen=True, slots=True)
class OperationFinished:
    """One operation ended (``error`` None: it succeeded). ``exception`` is what failed it, for a
    caller that maps failures to exit codes (the headless CLI); None when it was cancelled."""

    name: str
    error: str | None = None
    exception: BaseException | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


LifecycleEvent = (
    StatusChanged
    | BusyChanged
    | PhaseChanged
    | PullProgress
    | PreflightChecked
    | ChangesFound
    | LogLine
    | Notice
    | ErrorReported
    | OperationFinished
)

Listener = Callable[[LifecycleEvent], None]

ConfirmRecreate = Callable[[Sequence[Change]], Awaitable[bool]]
"""Asked during a start when the managed container differs from the config: True recreates it,
False starts the existing one as it is."""


__all__ = [
    "BusyChanged",
    "ChangesFound",
    "ConfirmRecreate",
    "ErrorReported",
    "LifecycleEvent",
    "Listener",
    "LogLine",
    "Notice",
    "OperationFinished",
    "PhaseChanged",
    "PreflightChecked",
    "PullProgress",
    "StatusChanged",
]
