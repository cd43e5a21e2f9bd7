"""``LifecycleManager``: the managed ComfyUI's lifecycle as state plus intents, for the TUI.

It is the one place that starts, stops, restarts and recreates the managed ComfyUI: the Server
screen and the headless ``up``/``down``/``restart`` are thin callers of the same operations
(preflight, pull, change detection with the recreate offer, readiness probe with the gateway
credentials of ``config.server``).

The App owns one manager and runs two of its loops as App-owned workers (``watch_status`` and
``follow_logs``), so they outlive screens. Listeners receive typed events (``events.py``); screens
render from them or from the manager's attributes and call its intents (``start_service``,
``stop_service`` ...). Each intent runs ONE operation as an asyncio task owned by the manager and
returns it (the CLI awaits it for the ``OperationFinished``); a second intent while one runs is
refused with an ``ErrorReported``, and failures become ``ErrorReported`` and a failed
``OperationFinished``, never exceptions to the caller. ``cancel_operation`` cancels a pull
(nothing is created from a pull, so nothing is left half-made) or the wait for a start.

UI-free: no Textual, no Rich. Listeners are called on the event loop and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.lifecycle import backend_kind, make_backend
from comfytui.core.lifecycle.events import (
    BusyChanged,
    ChangesFound,
    ConfirmRecreate,
    ErrorReported,
    LifecycleEvent,
    Listener,
    OperationFinished,
    PreflightChecked,
    StatusChanged,
)
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



class LifecycleManager:
    """The managed ComfyUI (container or process): last known state, and one operation at a time."""

    def __init__(self, config: Config, backend: PodmanBackend | ProcessBackend | None = None) -> None:
        """``backend``: one built by the caller (an instance of ``up --all``); else from ``config``."""
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
        self._backend_exception: Exception | None = None
        try:
            self._backend = backend if backend is not None else make_backend(config)
        except ComfyTuiError as exc:
            self._backend_error, self._backend_exception = str(exc), exc
        except Exception as exc:  # noqa: BLE001 - a bad config must not take the App down
            self._backend_error = f"cannot set up the {self.kind} backend: {exc}"
            self._backend_exception = exc
        if isinstance(self._backend, PodmanBackend):
            self.notices = list(self._backend.spec.notices)

    # ------------------------------------------------------------------ listeners
    def add_listener(self, fn: Listener) -> None:
        if fn not in self._listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def _emit(self, event: LifecycleEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("lifecycle listener %r failed on %s", fn, type(event).__name__)

    def _set_error(self, text: str | None) -> None:
        self.error = text
        if text:
            self._emit(ErrorReported(text))

    # ------------------------------------------------------------------ facts for the UI
    @property
    def backend(self) -> PodmanBackend | ProcessBackend | None:
        """The backend, or None when the config could not make one (``error`` says why)."""
        return self._backend

    def require_backend(self) -> PodmanBackend | ProcessBackend:
        """The backend; raises what kept the config from making one (the CLI's exit code)."""
        if self._backend is None:
            raise self._backend_exception or ComfyTuiError(self._backend_error or "no backend")
        return self._backend

    def probe_url(self) -> str:
        """Where the readiness probe goes. Behind a gateway (``[server]`` with auth or headers)
        it is ``config.server.url``, the address the user connects through, so a ready start
        proves the whole path, credentials included; otherwise the backend's own URL (a
        ``[server]`` left at its default must not send the probe to another port)."""
        server = self.config.server
        if server.auth != "none" or server.headers:
            return server.url
        if isinstance(self._backend, PodmanBackend) and self._backend.remote:
            return server.url  # a container on another host: its 127.0.0.1 is not ours
        return self.url

    @property
    def name(self) -> str:
        if self._backend is not None:
            return self._backend.name
        return self.config.container.name if self.kind == "container" else "comfyui"

    @property
    def url(self) -> str:
        """Where the managed ComfyUI answers once it runs (a remote container: the server's URL)."""
        if isinstance(self._backend, PodmanBackend) and self._backend.remote:
            return self.config.server.url
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
        self._emit(StatusChanged(status))
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
            self._emit(ChangesFound(tuple(changes)))

    async def watch_status(self, interval_s: float = 2.0) -> None:
        """Refresh the status every ``interval_s`` until cancelled; never raises for podman being down."""
        while True:
            await self.refresh_status()
            await asyncio.sleep(interval_s)

    async def follow_logs(self) -> None:
        """Deliver ``LogLine`` events until cancelled. The first follow starts with the last 200 lines;
        when the stream ends (the container stopped, was removed or restarted) it waits for the
        next run and follows again from where it was, without repeating lines. Never raises."""
        last_time: datetime | None = None
        seen_at_last: set[str] = set()
        followed_run: tuple[str, Any] | None = None
        while True:
            backend = self._backend
            if backend is None:
                await asyncio.sleep(1.0)  # the backend is built after the first frame: look again soon
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
                        self._emit(line)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - podman down or the container gone: wait, follow again
                log.debug("following the %s log: %s", self.kind, exc)
                await asyncio.sleep(2.0)
                continue
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ intents
    # Each returns the operation's task (awaiting it gives the ``OperationFinished``), or None
    # when the intent was refused (busy, no backend); the refusal is an ``ErrorReported``.

    def start_service(
        self,
        *,
        pull: bool = False,
        pull_if_missing: bool = True,
        confirm_recreate: ConfirmRecreate | None = None,
        startup_timeout_s: float | None = None,
    ) -> asyncio.Task[OperationFinished] | None:
        """Preflight, pull (``pull``: even when present), create if absent, start, wait through the
        phases to ready.

        A managed container that differs from the config is recreated when ``confirm_recreate``
        (shown the changes) answers True, and started as it is when it answers False; without it
        the start is refused with the changes reported (``ChangesFound`` and an error). A container
        not created by comfytui is never recreated: it is started as it is, with a warning."""
        return self._begin(
            "starting",
            lambda b: self._do_start(b, pull, pull_if_missing, confirm_recreate, startup_timeout_s),
        )

    def stop_service(self, timeout: float | None = None) -> asyncio.Task[OperationFinished] | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (default: the config's)."""
        return self._begin("stopping", lambda b: self._do_stop(b, timeout))

    def restart_service(
        self, timeout: float | None = None, *, wait: bool = True
    ) -> asyncio.Task[OperationFinished] | None:
        """Restart (``timeout`` as for stop) and, with ``wait``, wait through the phases to ready."""
        return self._begin("restarting", lambda b: self._do_restart(b, timeout, wait))

    def remove_service(self) -> asyncio.Task[OperationFinished] | None:
        return self._begin("removing", self._do_remove)

    def recreate_service(self) -> asyncio.Task[OperationFinished] | None:
        return self._begin("recreating", self._do_recreate, container_only=True)

    def pull_image(self) -> asyncio.Task[OperationFinished] | None:
        return self._begin("pulling", self._do_pull, container_only=True)

    def run_preflight(self) -> asyncio.Task[OperationFinished] | None:
        return self._begin("checking", self._do_preflight)

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
        operation: Callable[[Any], Awaitable[object]],
        container_only: bool = False,
    ) -> asyncio.Task[OperationFinished] | None:
        if self.busy is not None:
            # refused: told to the listeners, but ``error`` keeps describing the running operation
            self._emit(
                ErrorReported(
                    f"cannot {_VERBS.get(name, name)} now: {self.busy} is still running (Esc cancels it)"
                )
            )
            return None
        backend = self._backend
        if backend is None:
            self._set_error(self._backend_error or "no backend")
            return None
        if container_only and not isinstance(backend, PodmanBackend):
            self._set_error(f"{name} applies to the container backend only (this is a {self.kind})")
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._set_error(f"cannot {_VERBS.get(name, name)}: no event loop is running")
            return None
        self.error = None
        self._set_busy(name)
        task = loop.create_task(self._run(name, operation, backend), name=f"comfytui-{name}")
        self._task = task
        return task

    async def _run(
        self, name: str, operation: Callable[[Any], Awaitable[object]], backend: Any
    ) -> OperationFinished:
        failure: BaseException | None = None
        try:
            await operation(backend)
        except asyncio.CancelledError:
            self._set_error(f"{name} cancelled" + (": nothing was created" if name == "pulling" else ""))
        except StartupFailed as exc:
            failure = exc
            self._set_error(f"startup failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - every failure becomes an ErrorReported
            failure = exc
            self._set_error(_describe(exc, name))
        finally:
            # Status first, then idle: whoever reacts to "no longer busy" sees the new state.
            if not self._closing:
                await self._refresh_despite_cancel()
            self._set_busy(None)
        finished = OperationFinished(name, self.error, failure)
        self._emit(finished)
        if self._task is asyncio.current_task():
            self._task = None
        return finished

    async def _refresh_despite_cancel(self) -> None:
        """Read the status once more after an operation, even when cancelled again meanwhile: a
        second Esc landed in this read, skipped it and, before, also what followed ("busy" stayed
        for ever). Only closing the manager stops the wait."""
        refresh = asyncio.ensure_future(self.refresh_status())
        while not refresh.done():
            try:
                await asyncio.shield(refresh)
            except asyncio.CancelledError:
                if self._closing:
                    refresh.cancel()
                    return
            except Exception:  # noqa: BLE001 - refresh_status reports its own failures
                return

    def _set_busy(self, name: str | None) -> None:
        self.busy = name
        self._emit(BusyChanged(name))

    async def _do_preflight(self, backend: PodmanBackend | ProcessBackend) -> bool:
        """Run the checks and report them; False (and an error) when one blocks a start."""
        checks = await backend.preflight()
        self.preflight = checks
        self._emit(PreflightChecked(tuple(checks)))
        failed = blocking_failures(checks)
        if failed:
            self._set_error(_failed_checks(failed))
        return not failed

    async def _pull(self, backend: PodmanBackend) -> None:
        self.pull = None
        async with contextlib.aclosing(backend.pull()) as stream:
            async for event in stream:
                self.pull = event
                self._emit(event)
        self._emit(Notice("info", f"pulled {backend.image}"))

    async def _do_pull(self, backend: PodmanBackend) -> None:
        await self._pull(backend)

    async def _do_start(
        self,
        backend: PodmanBackend | ProcessBackend,
        pull: bool,
        pull_if_missing: bool,
        confirm_recreate: ConfirmRecreate | None,
        startup_timeout_s: float | None,
    ) -> None:
        self.phase = None
        for notice in self.notices:
            self._emit(notice)
        if not await self._do_preflight(backend):
            return
        if isinstance(backend, PodmanBackend):
            if pull or not await backend.image_present():
                if not (pull or pull_if_missing):
                    self._set_error(f"{backend.image} is not present: pull it first (p)")
                    return
                self._set_busy("pulling")
                await self._pull(backend)
                self._set_busy("starting")
            changes = await backend.diff()
            self.changes = changes
            if changes:
                self._emit(ChangesFound(tuple(changes)))
                status = await backend.status()
                if not status.managed:
                    self._emit(
                        Notice("warning", f"{backend.name} was not created by comfytui: it is started as it is")
                    )
                elif confirm_recreate is None:
                    self._set_error(
                        f"{backend.name} differs from the config ({len(changes)} change"
                        f"{'s' if len(changes) != 1 else ''}): recreate it to apply them (c), "
                        "or undo the config change"
                    )
                    return
                elif await confirm_recreate(changes):
                    self._set_busy("recreating")
                    self._emit(Notice("info", f"recreating {backend.name}"))
                    await self._recreate(backend)
                    self._set_busy("starting")
        await self._wait_ready(backend, startup_timeout_s)

    async def _wait_ready(
        self, backend: PodmanBackend | ProcessBackend, timeout_s: float | None = None
    ) -> None:
        settings: Any = self.config.container if isinstance(backend, PodmanBackend) else self.config.process
        phases = startup(
            backend,
            url=self.probe_url(),
            server=self.config.server,
            timeout_s=timeout_s or settings.startup_timeout_s,
            retries=settings.startup_retries,
        )
        async with contextlib.aclosing(phases):
            async for event in phases:
                self.phase = event
                self._emit(event)
                if event.changed and event.phase in (Phase.CREATED, Phase.RUNNING):
                    await self.refresh_status()

    async def _do_stop(self, backend: PodmanBackend | ProcessBackend, timeout: float | None) -> None:
        await backend.stop(timeout)

    async def _do_restart(
        self, backend: PodmanBackend | ProcessBackend, timeout: float | None, wait: bool
    ) -> None:
        status = await backend.status()
        if status.state is ServiceState.ABSENT:
            self._set_error(f"{backend.name} does not exist: start it first (u)")
            return
        self.phase = None
        await backend.restart(timeout)
        if wait:
            await self._wait_ready(backend)

    async def _do_remove(self, backend: PodmanBackend | ProcessBackend) -> None:
        await backend.remove()
        self.changes = []
        self.phase = None

    async def _recreate(self, backend: PodmanBackend) -> None:
        """Replace the container with one made from the config (not started: the phases start it)."""
        changes = await backend.recreate(start=False)
        self.changes = []
        self._emit(ChangesFound(()))
        if changes:
            self._emit(Notice("info", f"recreated {backend.name}: " + "; ".join(map(str, changes))))
        await self.refresh_status()

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
        await self._recreate(backend)
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


__all__ = ["LifecycleManager"]
