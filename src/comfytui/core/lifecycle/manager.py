"""``LifecycleManager``: the managed ComfyUI's lifecycle as state plus intents, for the TUI.

The App owns one manager and runs two of its loops as App-owned workers (``watch_status`` and
``follow_logs``), so they outlive screens. Screens register a listener, render from the
manager's attributes, and call its intents (``start_service``, ``stop_service`` ...). Each intent
runs ONE operation as an asyncio task owned by the manager: a second intent while one runs is
refused with an ``error`` update, and failures become ``error`` updates (user-facing text),
never exceptions to the caller. ``cancel_operation`` cancels a pull (nothing is created from a
pull, so nothing is left half-made) or the wait for a start.

UI-free: no Textual, no Rich. Listeners are called on the event loop and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.lifecycle import backend_kind, make_backend
from comfytui.core.lifecycle.phases import startup
from comfytui.core.lifecycle.podman_backend import PodmanBackend, socket_candidates
from comfytui.core.lifecycle.preflight import blocking_failures
from comfytui.core.lifecycle.process import ProcessBackend
from comfytui.core.lifecycle.types import (
    Change,
    LogLine,
    Notice,
    Phase,
    PhaseChanged,
    PreflightCheck,
    PullProgress,
    ServiceState,
    ServiceStatus,
    StartupFailed,
)

log = logging.getLogger(__name__)

LOG_TAIL = 200
"""Lines of history a (re-)follow starts with, and lines the manager keeps for late listeners."""
_VERBS = {
    "starting": "start",
    "stopping": "stop",
    "restarting": "restart",
    "removing": "remove",
    "recreating": "recreate",
    "pulling": "pull",
    "checking": "run the preflight",
}


@dataclass(frozen=True)
class LifecycleUpdate:
    """One change of the manager's state, handed to every listener.

    ``kind`` → ``payload``: "status" → ServiceStatus, "phase" → PhaseChanged, "pull" →
    PullProgress, "preflight" → list[PreflightCheck], "log" → LogLine, "busy" → str | None
    (the operation now running, None when it ended), "error" → str, "changes" → list[Change],
    "notice" → Notice.
    """

    kind: str
    payload: object


Listener = Callable[[LifecycleUpdate], None]


class LifecycleManager:
    """The managed ComfyUI (container or process): last known state, and one operation at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.kind: str = backend_kind(config)
        self.status: ServiceStatus | None = None
        """Last known status (from ``watch_status`` or after each operation)."""
        self.phase: PhaseChanged | None = None
        """The latest startup event (phase change or log line), during and after a start."""
        self.pull: PullProgress | None = None
        """The latest pull event, during and after a pull."""
        self.preflight: list[PreflightCheck] = []
        self.changes: list[Change] = []
        """How the existing container differs from the config (shown before a recreate)."""
        self.busy: str | None = None
        """The running operation ("starting", "pulling", "stopping" ...), None when idle."""
        self.error: str | None = None
        """The last operation's failure, as text to show; cleared when the next operation begins."""
        self.notices: list[Notice] = []
        """Notes about the spec (CPU mode, a port published beyond loopback, host networking)."""
        self.log_lines: deque[LogLine] = deque(maxlen=LOG_TAIL)
        """The latest lines ``follow_logs`` delivered, for a screen opened later."""
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._status_error: str | None = None
        self._diffed: tuple[str, str] | None = None
        self._closing = False
        self._backend: PodmanBackend | ProcessBackend | None = None
        self._backend_error: str | None = None
        try:
            self._backend = make_backend(config)
        except ComfyTuiError as exc:
            self._backend_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bad config must not take the App down
            self._backend_error = f"cannot set up the {self.kind} backend: {exc}"
        if isinstance(self._backend, PodmanBackend):
            self.notices = list(self._backend.spec.notices)

    # ------------------------------------------------------------------ listeners
    def add_listener(self, fn: Listener) -> None:
        if fn not in self._listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def _emit(self, kind: str, payload: object) -> None:
        update = LifecycleUpdate(kind, payload)
        for fn in list(self._listeners):
            try:
                fn(update)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("lifecycle listener %r failed on %s", fn, kind)

    def _set_error(self, text: str | None) -> None:
        self.error = text
        if text:
            self._emit("error", text)

    # ------------------------------------------------------------------ facts for the UI
    @property
    def backend(self) -> PodmanBackend | ProcessBackend | None:
        """The backend, or None when the config could not make one (``error`` says why)."""
        return self._backend

    @property
    def name(self) -> str:
        if self._backend is not None:
            return self._backend.name
        return self.config.container.name if self.kind == "container" else "comfyui"

    @property
    def url(self) -> str:
        """Where the managed ComfyUI answers once it runs."""
        return self._backend.url if self._backend is not None else ""

    @property
    def image(self) -> str:
        return self._backend.image if self._backend is not None else ""

    def equivalent_logs_command(self) -> str:
        """The shell command that shows the same log (``podman logs -f --tail 200 comfyui``)."""
        if isinstance(self._backend, ProcessBackend):
            return f"tail -n {LOG_TAIL} -f {shlex.quote(str(self._backend.log_file))}"
        settings = self.config.container
        url = ""
        if settings.socket:
            uri = socket_candidates(settings.socket)[0]
            url = f"--url {shlex.quote(uri)} "
        return f"podman {url}logs -f --tail {LOG_TAIL} {shlex.quote(self.name)}"

    # ------------------------------------------------------------------ loops the App owns
    async def refresh_status(self) -> ServiceStatus | None:
        """Read the status now and tell the listeners; never raises (podman down → state unknown)."""
        if self._backend is None:
            if self._status_error != self._backend_error:
                self._status_error = self._backend_error
                self._set_error(self._backend_error)
            return None
        try:
            try:
                status = await self._backend.status()
            except ComfyTuiError as exc:
                if "cannot reach the podman API" in str(exc):
                    raise
                await asyncio.sleep(0.2)  # one retry: a pooled connection may have just been dropped
                status = await self._backend.status()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - podman down, socket gone, config: all shown, none raised
            message = _describe(exc)
            status = ServiceStatus(
                backend=self._backend.kind,
                name=self.name,
                state=ServiceState.UNKNOWN,
                image=self.image,
                url=self.url,
                detail=message,
            )
            if message != self._status_error:
                self._status_error = message
                if self.busy is None and self.error is None:
                    self._set_error(message)
        else:
            if self._status_error is not None:
                if self.error == self._status_error:
                    self.error = None
                self._status_error = None
        self.status = status
        self._emit("status", status)
        await self._refresh_changes(status)
        return status

    async def _refresh_changes(self, status: ServiceStatus) -> None:
        """Keep ``changes`` current: diff once per container whose spec hash is not the config's."""
        backend = self._backend
        if not isinstance(backend, PodmanBackend) or status.state is ServiceState.UNKNOWN:
            return
        if status.state is ServiceState.ABSENT or status.spec_hash == backend.spec.spec_hash:
            key: tuple[str, str] | None = None
        else:
            key = (status.id, status.spec_hash)
        if key == self._diffed:
            return
        changes: list[Change] = []
        if key is not None:
            try:
                changes = await backend.diff()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next refresh tries again
                return
        self._diffed = key
        if changes != self.changes:
            self.changes = changes
            self._emit("changes", changes)

    async def watch_status(self, interval_s: float = 2.0) -> None:
        """Refresh the status every ``interval_s`` until cancelled; never raises for podman being down."""
        while True:
            await self.refresh_status()
            await asyncio.sleep(interval_s)

    async def follow_logs(self) -> None:
        """Deliver "log" updates until cancelled. The first follow starts with the last 200 lines;
        when the stream ends (the container stopped, was removed or restarted) it waits for the
        next run and follows again from where it was, without repeating lines. Never raises."""
        last_time: datetime | None = None
        seen_at_last: set[str] = set()
        followed_run: tuple[str, Any] | None = None
        while True:
            backend = self._backend
            if backend is None:
                await asyncio.sleep(5.0)
                continue
            try:
                if isinstance(backend, PodmanBackend):
                    status = await backend.status()
                    run = (status.id, status.started_at)
                    if status.state is ServiceState.ABSENT or (
                        run == followed_run and status.state is not ServiceState.RUNNING
                    ):
                        await asyncio.sleep(1.0)
                        continue
                    followed_run = run
                # a re-follow starts where the last one ended; the first one with the last 200 lines
                tail = None if last_time is not None else LOG_TAIL
                stream = backend.logs(follow=True, since=last_time, tail=tail)
                async with contextlib.aclosing(stream):
                    async for line in stream:
                        if last_time is not None and line.time is not None:
                            if line.time < last_time or (
                                line.time == last_time and line.text in seen_at_last
                            ):
                                continue
                        if line.time is not None:
                            if line.time != last_time:
                                last_time, seen_at_last = line.time, set()
                            seen_at_last.add(line.text)
                        self.log_lines.append(line)
                        self._emit("log", line)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - podman down or the container gone: wait, follow again
                log.debug("following the %s log: %s", self.kind, exc)
                await asyncio.sleep(2.0)
                continue
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ intents
    def start_service(self, *, pull_if_missing: bool = True) -> None:
        """Preflight, pull if needed, create if absent, start, wait through the phases to ready.

        A container that differs from the config is not recreated here: the changes are reported
        ("changes" and "error") so the UI can confirm and call ``recreate_service``."""
        self._begin("starting", lambda b: self._do_start(b, pull_if_missing))

    def stop_service(self) -> None:
        self._begin("stopping", self._do_stop)

    def restart_service(self) -> None:
        self._begin("restarting", self._do_restart)

    def remove_service(self) -> None:
        self._begin("removing", self._do_remove)

    def recreate_service(self) -> None:
        self._begin("recreating", self._do_recreate, container_only=True)

    def pull_image(self) -> None:
        self._begin("pulling", self._do_pull, container_only=True)

    def run_preflight(self) -> None:
        self._begin("checking", self._do_preflight)

    def cancel_operation(self) -> None:
        """Cancel the running operation (a pull, the wait for a start); nothing when idle."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listeners.clear()
        if self._backend is not None:
            with contextlib.suppress(Exception):
                await self._backend.close()

    # ------------------------------------------------------------------ running one operation
    def _begin(
        self,
        name: str,
        operation: Callable[[Any], Awaitable[None]],
        container_only: bool = False,
    ) -> None:
        if self.busy is not None:
            # refused: told to the listeners, but ``error`` keeps describing the running operation
            self._emit(
                "error", f"cannot {_VERBS.get(name, name)} now: {self.busy} is still running (Esc cancels it)"
            )
            return
        backend = self._backend
        if backend is None:
            self._set_error(self._backend_error or "no backend")
            return
        if container_only and not isinstance(backend, PodmanBackend):
            self._set_error(f"{name} applies to the container backend only (this is a {self.kind})")
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._set_error(f"cannot {_VERBS.get(name, name)}: no event loop is running")
            return
        self.error = None
        self.busy = name
        self._emit("busy", name)
        self._task = loop.create_task(self._run(name, operation, backend), name=f"comfytui-{name}")

    async def _run(self, name: str, operation: Callable[[Any], Awaitable[None]], backend: Any) -> None:
        try:
            await operation(backend)
        except asyncio.CancelledError:
            self._set_error(f"{name} cancelled" + (": nothing was created" if name == "pulling" else ""))
        except StartupFailed as exc:
            self._set_error(f"startup failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes an "error" update
            self._set_error(_describe(exc, name))
        finally:
            # Status first, then idle: whoever reacts to "no longer busy" sees the new state.
            if not self._closing:
                with contextlib.suppress(Exception):
                    await self.refresh_status()
            self.busy = None
            self._emit("busy", None)
        if self._task is asyncio.current_task():
            self._task = None

    def _set_busy(self, name: str) -> None:
        self.busy = name
        self._emit("busy", name)

    async def _do_preflight(self, backend: PodmanBackend | ProcessBackend) -> bool:
        """Run the checks and report them; False (and an error) when one blocks a start."""
        checks = await backend.preflight()
        self.preflight = checks
        self._emit("preflight", checks)
        failed = blocking_failures(checks)
        if failed:
            self._set_error(_failed_checks(failed))
        return not failed

    async def _pull(self, backend: PodmanBackend) -> None:
        self.pull = None
        async with contextlib.aclosing(backend.pull()) as stream:
            async for event in stream:
                self.pull = event
                self._emit("pull", event)
        self._emit("notice", Notice("info", f"pulled {backend.image}"))

    async def _do_pull(self, backend: PodmanBackend) -> None:
        await self._pull(backend)

    async def _do_start(self, backend: PodmanBackend | ProcessBackend, pull_if_missing: bool) -> None:
        self.phase = None
        for notice in self.notices:
            self._emit("notice", notice)
        if not await self._do_preflight(backend):
            return
        if isinstance(backend, PodmanBackend):
            if not await backend.image_present():
                if not pull_if_missing:
                    self._set_error(f"{backend.image} is not present: pull it first (p)")
                    return
                self._set_busy("pulling")
                await self._pull(backend)
                self._set_busy("starting")
            changes = await backend.diff()
            self.changes = changes
            if changes:
                self._emit("changes", changes)
                status = await backend.status()
                if status.managed:
                    self._set_error(
                        f"{backend.name} differs from the config ({len(changes)} change"
                        f"{'s' if len(changes) != 1 else ''}): recreate it to apply them (c), "
                        "or undo the config change"
                    )
                    return
                self._emit(
                    "notice",
                    Notice("warning", f"{backend.name} was not created by comfytui: it is started as it is"),
                )
        await self._wait_ready(backend)

    async def _wait_ready(self, backend: PodmanBackend | ProcessBackend) -> None:
        settings: Any = self.config.container if isinstance(backend, PodmanBackend) else self.config.process
        phases = startup(
            backend,
            headers=dict(self.config.server.headers),
            timeout_s=settings.startup_timeout_s,
            retries=settings.startup_retries,
        )
        async with contextlib.aclosing(phases):
            async for event in phases:
                self.phase = event
                self._emit("phase", event)
                if event.changed and event.phase in (Phase.CREATED, Phase.RUNNING):
                    await self.refresh_status()

    async def _do_stop(self, backend: PodmanBackend | ProcessBackend) -> None:
        await backend.stop()

    async def _do_restart(self, backend: PodmanBackend | ProcessBackend) -> None:
        status = await backend.status()
        if status.state is ServiceState.ABSENT:
            self._set_error(f"{backend.name} does not exist: start it first (u)")
            return
        self.phase = None
        await backend.restart()
        await self._wait_ready(backend)

    async def _do_remove(self, backend: PodmanBackend | ProcessBackend) -> None:
        await backend.remove()
        self.changes = []
        self.phase = None

    async def _do_recreate(self, backend: PodmanBackend) -> None:
        self.phase = None
        status = await backend.status()
        if status.state is not ServiceState.ABSENT and not status.managed:
            self._set_error(
                f"{backend.name} was not created by comfytui: remove it yourself "
                f"(`podman rm {backend.name}`) or choose another container.name"
            )
            return
        if not await backend.image_present():
            self._set_busy("pulling")
            await self._pull(backend)
            self._set_busy("recreating")
        changes = await backend.recreate(start=False)
        self.changes = []
        self._emit("changes", [])
        if changes:
            self._emit("notice", Notice("info", f"recreated {backend.name}: " + "; ".join(map(str, changes))))
        await self.refresh_status()
        await self._wait_ready(backend)


def _describe(exc: BaseException, what: str = "") -> str:
    """User-facing text for an operation's failure (our errors carry their own wording)."""
    if isinstance(exc, ComfyTuiError):
        return str(exc)
    prefix = f"{what} failed: " if what else ""
    return f"{prefix}{type(exc).__name__}: {exc}"


def _failed_checks(failed: list[PreflightCheck]) -> str:
    lines = ["preflight failed:"]
    for check in failed:
        lines.append(f"✖ {check.name}: {check.message}" + (f" (fix: {check.fix})" if check.fix else ""))
    return "\n".join(lines)


__all__ = ["LifecycleManager", "LifecycleUpdate"]
