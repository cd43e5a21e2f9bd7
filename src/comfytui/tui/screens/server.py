"""The Server screen (``s`` on the dashboard): the managed ComfyUI container or process.

It shows the service card (backend, name, image, state, exit code, uptime, ports with their host
address, mounts, GPU or CPU mode, the comfytui label), the startup phases with the latest log
line, pull progress per layer and overall, preflight results, the changes a recreate would make,
the last error, and the container's or process's log (the shared ``LogPane``). Keys start, stop,
restart, remove, recreate, pull and check; the destructive ones ask y/N first, and a start that
finds the container differing from the config offers to recreate it (y/N), as ``comfytui up``
does.

Everything long runs in the App's ``LifecycleManager`` (``services.lifecycle``), the same start
path as the headless commands: this screen only calls its intents and renders its state, so
leaving the screen never stops a pull or a start. The manager's typed events arrive as
``LifecycleChanged`` messages; the handler mirrors the manager's state into reactives whose
watchers redraw only what changed (Textual coalesces the repaints of a burst).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from comfytui.core.lifecycle.events import BusyChanged, LifecycleEvent
from comfytui.core.lifecycle.manager import LifecycleManager
from comfytui.core.lifecycle.podman_backend import PodmanBackend
from comfytui.core.lifecycle.spec import COMFY_ROOT
from comfytui.core.lifecycle.types import (
    Change,
    LogLine,
    Notice,
    Phase,
    PhaseChanged,
    PortBinding,
    PreflightCheck,
    PullProgress,
    ServiceState,
    ServiceStatus,
)
from comfytui.tui.format import duration, size
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.services import Services, refuse_if_readonly
from comfytui.tui.widgets.log_pane import LogPane

LOG_VIEW_LINES = 500
PHASE_ORDER = (Phase.PULLED, Phase.CREATED, Phase.RUNNING, Phase.HTTP_READY, Phase.WS_CONNECTED)
PHASE_LABELS = {
    Phase.PULLED: "pulled",
    Phase.CREATED: "created",
    Phase.RUNNING: "running",
    Phase.HTTP_READY: "HTTP",
    Phase.WS_CONNECTED: "WS",
}
STATE_STYLES = {
    ServiceState.RUNNING: "bold green",
    ServiceState.CREATED: "bold cyan",
    ServiceState.EXITED: "bold red",
    ServiceState.PAUSED: "bold yellow",
    ServiceState.ABSENT: "bold",
    ServiceState.UNKNOWN: "bold yellow",
}


PROCESS_PHASE_LABELS = {**PHASE_LABELS, Phase.PULLED: "main.py found", Phase.CREATED: "prepared"}
"""A bare process has no image to pull and nothing to create: the same phases, in its own words."""


def exit_description(code: int) -> tuple[str, str]:
    """How an exit code reads: a stop we asked for (SIGTERM, or SIGKILL after the stop timeout) is
    "stopped", not an error; signals by name (a process gives -N, a container 128+N)."""
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number in (signal.SIGTERM, signal.SIGINT):
        return f"  stopped ({signal.Signals(number).name})", "dim"
    if number:
        try:
            return f"  killed by {signal.Signals(number).name} (exit code {code})", "red"
        except ValueError:
            pass
    return f"  exit code {code}", "red" if code else ""


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _log_entry(line: LogLine) -> tuple[str, str]:
    """A backend log line as ``LogPane.add`` takes it (the pane guesses its level)."""
    return (line.time.isoformat() if line.time else "", line.text + "\n")


def _recreate_detail(changes: Sequence[Change]) -> str:
    detail = "\n".join(f"• {c}" for c in changes) if changes else "No change from the config is known."
    return detail + "\n\nThe container is removed and made again; data folders are kept."


# ---------------------------------------------------------------------- rendering (pure)
def card_text(manager: LifecycleManager, status: ServiceStatus | None) -> Text:
    """The service card: what runs, its state, and where it is reachable."""
    text = Text(no_wrap=True, overflow="ellipsis")
    backend = manager.backend
    kind = manager.kind
    text.append(f"{kind} ", style="dim")
    text.append(manager.name, style="bold")
    text.append("\n")
    if status is None:
        text.append("state   ", style="dim")
        text.append("reading…\n", style="dim italic")
    else:
        text.append("state   ", style="dim")
        state_label = (
            "not created"
            if status.state is ServiceState.ABSENT and kind == "container"
            else ("not started" if status.state is ServiceState.ABSENT else status.state.value)
        )
        text.append(state_label, style=STATE_STYLES.get(status.state, "bold"))
        if status.exit_code is not None:
            text.append(*exit_description(status.exit_code))
        if status.uptime_s is not None:
            text.append(f"  up {duration(status.uptime_s)}", style="green")
        text.append("\n")
        if status.state is ServiceState.UNKNOWN and status.detail:
            text.append(f"        {status.detail}\n", style="yellow")
        elif status.state is ServiceState.ABSENT and kind == "container":
            text.append("        u creates and starts it\n", style="dim")
        if status.pid:
            text.append("pid     ", style="dim")
            text.append(f"{status.pid}\n")
    image = (status.image if status and status.image else "") or manager.image
    text.append("image   " if kind == "container" else "main.py ", style="dim")
    text.append(image or "-")
    if status and status.image_id:
        text.append(f" ({status.image_id.removeprefix('sha256:')[:12]})", style="dim")
    text.append("\n")
    if manager.url:
        text.append("url     ", style="dim")
        text.append(manager.url + "\n")
    for line in port_lines(manager, status):
        text.append_text(line)
        text.append("\n")
    if status and status.network_mode:
        text.append("network ", style="dim")
        text.append(status.network_mode + "\n")
    mounts = (
        status.mounts
        if status and status.mounts
        else (backend.spec.mounts if isinstance(backend, PodmanBackend) else ())
    )
    for i, mount in enumerate(mounts):
        text.append("mounts  " if i == 0 else "        ", style="dim")
        text.append(mount.destination.removeprefix(COMFY_ROOT + "/"), style="bold")
        text.append(" ← ", style="dim")
        text.append(mount.source)
        if mount.read_only:
            text.append(" (ro)", style="dim")
        if mount.kind == "volume":
            text.append(" (volume)", style="dim")
        text.append("\n")
    if kind == "container":
        devices = (
            status.gpu_devices
            if status and status.gpu_devices
            else (backend.spec.devices if isinstance(backend, PodmanBackend) else ())
        )
        text.append("gpu     ", style="dim")
        if devices:
            text.append(", ".join(devices), style="green")
        else:
            text.append("none: CPU mode", style="yellow")
        text.append("\n")
        if (
            status is not None
            and status.state is not ServiceState.ABSENT
            and status.state is not ServiceState.UNKNOWN
        ):
            text.append("label   ", style="dim")
            if status.managed:
                text.append("managed by comfytui\n")
            else:
                text.append("not created by comfytui (kept as it is)\n", style="yellow")
    elif isinstance(status, ServiceStatus) and status.backend == "process":
        log_file = getattr(backend, "log_file", None)
        if log_file is not None:
            text.append("log     ", style="dim")
            text.append(f"{log_file}\n")
    return text


def notices_text(manager: LifecycleManager) -> Text:
    """The spec's notices: CPU mode, a port published beyond loopback, host networking."""
    text = Text()
    for notice in manager.notices:
        text.append(
            "⚠ " if notice.level == "warning" else "ℹ ",
            style="yellow" if notice.level == "warning" else "cyan",
        )
        text.append(notice.text + "\n", style="yellow" if notice.level == "warning" else "dim")
    return text


def port_lines(manager: LifecycleManager, status: ServiceStatus | None) -> list[Text]:
    """Ports from the status; under host networking podman drops the bindings, so the spec's is shown."""
    ports: Iterable[PortBinding] = status.ports if status and status.ports else ()
    note = ""
    backend = manager.backend
    if not ports and isinstance(backend, PodmanBackend):
        ports = backend.spec.ports
        if backend.spec.network == "host":
            note = f"(from the spec; host network: ComfyUI listens on {backend.spec.listen_port})"
        else:
            note = "(from the spec)"
    elif not ports and manager.kind == "process" and backend is not None:
        host = getattr(backend, "host", "") or "127.0.0.1"
        port = getattr(backend, "port", 0)
        if port:
            ports = (PortBinding(port, port, host),)
    lines: list[Text] = []
    for i, port in enumerate(ports):
        line = Text("ports   " if i == 0 else "        ", style="dim")
        host = port.host_ip or "0.0.0.0"
        if is_loopback(host):
            line.append(str(port), style="green")
        else:
            line.append(str(port), style="bold red")
            line.append("  not loopback: ComfyUI has no authentication", style="red")
        lines.append(line)
    if note and lines:
        lines.append(Text("        " + note.strip(" ()"), style="dim"))
    return lines


def phase_text(phase: PhaseChanged | None, busy: str | None, reached_before: Phase | None = None,
               kind: str = "container") -> Text:
    """The phase ladder (pulled → created → running → HTTP → WS) and the latest log line of the start.

    ``reached_before`` is the last phase reached when ``phase`` is a failure (the ladder keeps it)."""
    text = Text()
    if phase is None:
        text.append("no start in this session" if busy is None else f"{busy}…", style="dim")
        return text
    labels = PROCESS_PHASE_LABELS if kind == "process" else PHASE_LABELS
    failed = phase.phase is Phase.FAILED
    last = reached_before if failed else phase.phase
    reached = PHASE_ORDER.index(last) if last in PHASE_ORDER else -1
    for i, step in enumerate(PHASE_ORDER):
        if i:
            text.append(" → ", style="dim")
        if i <= reached:
            text.append(f"✔ {labels[step]}", style="green")
        elif i == reached + 1 and not failed and busy:
            text.append(f"… {labels[step]}", style="bold yellow")
        else:
            text.append(labels[step], style="dim")
    if failed:
        text.append("  ✖ failed", style="bold red")
    text.append(f"\n[{phase.elapsed_s:.1f}s] {phase.detail}", style="red" if failed else "")
    if phase.attempt > 1:
        text.append(f" (attempt {phase.attempt})", style="dim")
    if phase.latest_log_line:
        text.append("\n│ ", style="dim")
        text.append(phase.latest_log_line[:300], style="italic")
    return text


def pull_text(layers: dict[str, PullProgress], latest: PullProgress | None) -> Text:
    """One line per layer: status and bytes done / total."""
    text = Text()
    if latest is None:
        text.append("no pull in this session (p pulls the image)", style="dim")
        return text
    percent = f"{latest.percent:.1f}%" if latest.percent is not None else "?%"
    text.append(f"{percent} · {latest.layers_done}/{latest.layers_total} layers\n", style="bold")
    for layer, event in list(layers.items())[-8:]:
        text.append(f"{layer[:12]:<12} ", style="dim")
        text.append(f"{event.status:<18}")
        if event.total:
            text.append(f" {size(event.current or 0)} / {size(event.total)}")
        text.append("\n")
    return text


def preflight_text(checks: list[PreflightCheck]) -> Text:
    text = Text()
    if not checks:
        text.append("not run yet (P checks; u runs it before a start)", style="dim")
        return text
    for check in checks:
        if check.ok:
            text.append("✔ ", style="green")
        elif check.blocking:
            text.append("✖ ", style="bold red")
        else:
            text.append("⚠ ", style="yellow")
        text.append(f"{check.name}: ", style="bold")
        text.append(check.message)
        if check.fix and not check.ok:
            text.append("\n    fix: ", style="dim")
            text.append(check.fix, style="cyan")
        text.append("\n")
    return text


def changes_text(changes: list[Change], status: ServiceStatus | None = None, kind: str = "container") -> Text:
    """What a recreate would change (the container vs the config)."""
    text = Text()
    if kind != "container":
        return text
    if not changes:
        if status is None or status.state in (ServiceState.ABSENT, ServiceState.UNKNOWN):
            text.append("no container to compare with the config yet", style="dim")
        else:
            text.append("the container matches the config", style="dim")
        return text
    text.append(
        f"{len(changes)} change{'s' if len(changes) != 1 else ''} to apply (c recreates):\n",
        style="bold yellow",
    )
    for change in changes:
        text.append(f"  • {change}\n")
    return text


# ---------------------------------------------------------------------- the screen
class ServerScreen(Screen[None]):
    """The managed ComfyUI: card, phases, pull, preflight, changes, logs; start/stop/… keys."""

    DEFAULT_CSS = """
    ServerScreen #server-title { height: 1; padding: 0 1; background: $boost; }
    ServerScreen #server-top { height: 2fr; min-height: 8; }
    ServerScreen #server-card-box { width: 1fr; border: round $primary 60%; padding: 0 1; }
    ServerScreen #server-card { text-wrap: nowrap; text-overflow: ellipsis; }
    ServerScreen #server-side { width: 1fr; }
    ServerScreen #server-phase { height: auto; border: round $secondary 60%; padding: 0 1; }
    ServerScreen #server-pull { height: auto; border: round $secondary 60%; padding: 0 1; }
    ServerScreen #server-pull.-idle { display: none; }
    ServerScreen #pull-bar { width: 1fr; }
    ServerScreen #server-details { height: 1fr; border: round $secondary 60%; padding: 0 1; }
    ServerScreen #server-error { height: auto; max-height: 8; padding: 0 1; color: $error; }
    ServerScreen #server-error.-empty { display: none; }
    ServerScreen #server-log { height: 1fr; min-height: 5; max-height: 14; }
    """

    BINDINGS = [
        Binding(
            "u",
            "start",
            "Start",
            id="server.start",
            tooltip="Preflight, pull if missing, create, start, and wait until ComfyUI answers",
        ),
        Binding("S", "stop", "Stop", id="server.stop", tooltip="Stop the container or process (asks first)"),
        Binding(
            "R",
            "restart",
            "Restart",
            id="server.restart",
            tooltip="Restart and wait until ready (asks first)",
        ),
        Binding(
            "x",
            "remove",
            "Remove",
            id="server.remove",
            tooltip="Stop and remove the container; data folders are kept (asks first)",
        ),
        Binding(
            "c",
            "recreate",
            "Recreate",
            id="server.recreate",
            tooltip="Replace the container with one made from the current config (shows the changes, asks first)",
        ),
        Binding(
            "p", "pull", "Pull", id="server.pull", tooltip="Pull the image, with per-layer byte progress"
        ),
        Binding(
            "P",
            "preflight",
            "Preflight",
            id="server.preflight",
            tooltip="Check podman, image, port, GPU (CDI), mounts without starting",
        ),
        Binding(
            "l",
            "focus_log",
            "Log",
            id="server.log",
            tooltip="Focus the log view (the container's or process's log)",
        ),
        Binding(
            "y",
            "copy_logs_command",
            "Copy logs cmd",
            id="server.copy",
            show=False,
            tooltip="Copy the equivalent `podman logs` (or `tail -f`) command",
        ),
        Binding(
            "escape",
            "cancel_or_back",
            "Cancel/Back",
            id="server.back",
            tooltip="Cancel the running pull or start wait; otherwise go back",
        ),
        Binding(
            "question_mark", "help", "Help", id="server.help", show=False, tooltip="List this screen's keys"
        ),
    ]

    status: reactive[ServiceStatus | None] = reactive(None, init=False)
    busy: reactive[str | None] = reactive(None, init=False)
    phase: reactive[PhaseChanged | None] = reactive(None, init=False)
    pull: reactive[PullProgress | None] = reactive(None, init=False)
    preflight: reactive[tuple[PreflightCheck, ...]] = reactive((), init=False)
    changes: reactive[tuple[Change, ...]] = reactive((), init=False)
    error: reactive[str | None] = reactive(None, init=False)
    """Mirrors of the manager's state; each watcher redraws only the part that shows it."""

    class LifecycleChanged(Message):
        """One event of the lifecycle manager, carried onto the screen's message queue."""

        def __init__(self, event: LifecycleEvent) -> None:
            super().__init__()
            self.event = event

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.lifecycle: LifecycleManager | None = services.lifecycle
        self._pull_layers: dict[str, PullProgress] = {}
        self._reached: Phase | None = None
        """The last phase the current start reached (kept on the ladder when it fails)."""
        self.notices_seen: list[Notice] = []

    # -- layout

    def compose(self) -> ComposeResult:
        yield Static(id="server-title")
        with Horizontal(id="server-top"):
            with VerticalScroll(id="server-card-box"):
                yield Static(id="server-card")
                yield Static(id="server-notices")
            with Vertical(id="server-side"):
                yield Static(id="server-phase")
                with Vertical(id="server-pull", classes="-idle"):
                    yield ProgressBar(total=100, show_eta=False, id="pull-bar")
                    yield Static(id="pull-layers")
                with VerticalScroll(id="server-details"):
                    yield Static(id="server-changes")
                    yield Static(id="server-preflight")
        yield Static(id="server-error", classes="-empty")
        yield LogPane(max_lines=LOG_VIEW_LINES, id="server-log")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#server-card-box").border_title = "Service"
        self.query_one("#server-phase").border_title = "Startup"
        self.query_one("#server-pull").border_title = "Pull"
        self.query_one("#server-details").border_title = "Changes · preflight"
        manager = self.lifecycle
        if manager is None:
            self.query_one("#server-title", Static).update(
                Text(
                    "Server · no lifecycle manager in this app (backend not configured)", style="bold yellow"
                )
            )
            return
        log_pane = self.query_one("#server-log", LogPane)
        log_pane.equivalent_command = log_pane.border_subtitle = manager.equivalent_logs_command()
        log_pane.add(manager.kind, [_log_entry(line) for line in manager.log_lines])
        if manager.pull is not None:
            self._pull_layers[manager.pull.layer] = manager.pull
        manager.add_listener(self._post_lifecycle_event)
        self._sync_from_manager()
        self._show_everything()
        if manager.status is None and manager.busy is None:
            self.run_worker(
                manager.refresh_status(),
                group="server-refresh",
                exclusive=True,
                exit_on_error=False,
                description="reading the service status",
            )

    def on_unmount(self) -> None:
        if self.lifecycle is not None:
            self.lifecycle.remove_listener(self._post_lifecycle_event)

    # -- manager -> screen: the listener only posts; the handler updates the reactives

    def _post_lifecycle_event(self, event: LifecycleEvent) -> None:
        self.post_message(self.LifecycleChanged(event))

    def on_server_screen_lifecycle_changed(self, message: LifecycleChanged) -> None:
        manager = self.lifecycle
        if manager is None:
            return
        match message.event:
            case LogLine() as line:
                self.query_one("#server-log", LogPane).add(manager.kind, [_log_entry(line)])
                return
            case PullProgress(layer=layer) as event if layer:
                self._pull_layers[layer] = event
            case PhaseChanged(phase=phase) if phase in PHASE_ORDER:
                self._reached = phase
            case BusyChanged(busy="pulling"):
                self._pull_layers.clear()
            case BusyChanged(busy="starting" | "restarting" | "recreating"):
                self._reached = None
            case Notice(level=level, text=text) as notice:
                self.notices_seen.append(notice)
                self.notify(text, severity="warning" if level == "warning" else "information")
            case _:
                pass
        self._sync_from_manager()

    def _sync_from_manager(self) -> None:
        """The manager's attributes are the truth (events may arrive after it moved on); a
        reactive set to the value it has already does not redraw."""
        manager = self.lifecycle
        if manager is None:
            return
        self.status = manager.status
        self.busy = manager.busy
        self.phase = manager.phase
        self.pull = manager.pull
        self.preflight = tuple(manager.preflight)
        self.changes = tuple(manager.changes)
        self.error = manager.error
        self._show_pull()  # the layers dict changes without the latest event changing

    def watch_status(self) -> None:
        self._show_card()
        self._show_changes()

    def watch_busy(self) -> None:
        self._show_card()
        self._show_phase()
        self._show_pull()

    def watch_phase(self) -> None:
        self._show_phase()

    def watch_pull(self) -> None:
        self._show_pull()

    def watch_preflight(self) -> None:
        if self.lifecycle is not None:
            self.query_one("#server-preflight", Static).update(preflight_text(list(self.preflight)))

    def watch_changes(self) -> None:
        self._show_changes()

    def watch_error(self, error: str | None) -> None:
        if self.lifecycle is None:
            return
        view = self.query_one("#server-error", Static)
        view.update(Text("✖ " + error, style="bold") if error else "")
        view.set_class(not error, "-empty")

    def _show_everything(self) -> None:
        self._show_card()
        self._show_phase()
        self._show_pull()
        self._show_changes()
        self.watch_preflight()
        self.watch_error(self.error)

    def _show_card(self) -> None:
        manager = self.lifecycle
        if manager is None:
            return
        title = Text("Server · ", style="bold")
        title.append(f"{manager.kind} {manager.name}")
        if self.status is not None:
            title.append(" · ")
            title.append(self.status.state.value, style=STATE_STYLES.get(self.status.state, ""))
        if self.busy:
            title.append(f" · {self.busy}… (Esc cancels)", style="bold yellow")
        self.query_one("#server-title", Static).update(title)
        self.query_one("#server-card", Static).update(card_text(manager, self.status))
        self.query_one("#server-notices", Static).update(notices_text(manager))

    def _show_phase(self) -> None:
        if self.lifecycle is not None:
            self.query_one("#server-phase", Static).update(
                phase_text(self.phase, self.busy, self._reached, self.lifecycle.kind))

    def _show_pull(self) -> None:
        if self.lifecycle is None:
            return
        pull = self.pull
        self.query_one("#server-pull").set_class(not (self.busy == "pulling" or pull is not None), "-idle")
        if pull is not None and pull.percent is not None:
            self.query_one("#pull-bar", ProgressBar).update(progress=pull.percent)
        self.query_one("#pull-layers", Static).update(pull_text(self._pull_layers, pull))

    def _show_changes(self) -> None:
        manager = self.lifecycle
        if manager is not None:
            self.query_one("#server-changes", Static).update(
                changes_text(list(self.changes), self.status, manager.kind)
            )


    # -- intents

    def _manager(self) -> LifecycleManager | None:
        if self.lifecycle is None:
            self.notify(
                'no lifecycle manager: set backend = "container" or "process" in the config',
                severity="warning",
            )
        return self.lifecycle

    def _refuse_readonly(self) -> bool:
        return refuse_if_readonly(self.services, self)

    def _confirm(self, question: str, detail: str, then: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    async def _confirm_recreate(self, changes: Sequence[Change]) -> bool:
        """Asked by the manager when a start finds the container differing from the config."""
        manager = self.lifecycle
        name = manager.name if manager is not None else "the container"
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(yes: bool | None) -> None:
            if not answer.done():
                answer.set_result(bool(yes))

        self.app.push_screen(ConfirmScreen(f"Recreate {name}?", _recreate_detail(changes)), answered)
        if await answer:
            return True
        self.notify(f"{name} is started as it is: the config changes are not applied (c recreates it)")
        return False

    def action_start(self) -> None:
        manager = self._manager()
        if manager is not None and not self._refuse_readonly():
            manager.start_service(confirm_recreate=self._confirm_recreate)


    def action_stop(self) -> None:
        manager = self._manager()
        if manager is None or self._refuse_readonly():
            return
        self._confirm(f"Stop {manager.name}?", "Running and pending jobs are lost.", manager.stop_service)

    def action_restart(self) -> None:
        manager = self._manager()
        if manager is None or self._refuse_readonly():
            return
        self._confirm(
            f"Restart {manager.name}?",
            "Running and pending jobs are lost; models load again.",
            manager.restart_service,
        )

    def action_remove(self) -> None:
        manager = self._manager()
        if manager is None or self._refuse_readonly():
            return
        what = "container" if manager.kind == "container" else "process state"
        self._confirm(
            f"Remove the {what} {manager.name}?",
            "It is stopped first. Models, outputs and workflows in the data folders are kept.",
            manager.remove_service,
        )

    def action_recreate(self) -> None:
        manager = self._manager()
        if manager is None or self._refuse_readonly():
            return
        if manager.kind != "container":
            self.notify("recreate applies to the container backend only", severity="warning")
            return
        self._confirm(f"Recreate {manager.name}?", _recreate_detail(manager.changes), manager.recreate_service)

    def action_pull(self) -> None:
        manager = self._manager()
        if manager is not None and not self._refuse_readonly():
            manager.pull_image()

    def action_preflight(self) -> None:
        manager = self._manager()
        if manager is not None:
            manager.run_preflight()

    def action_cancel_or_back(self) -> None:
        manager = self.lifecycle
        if manager is not None and manager.busy is not None:
            manager.cancel_operation()
            self.notify(f"cancelling {manager.busy}")
            return
        self.app.pop_screen()

    def action_focus_log(self) -> None:
        self.query_one("#server-log", LogPane).view.focus()

    def action_copy_logs_command(self) -> None:
        if self.lifecycle is None:
            return
        command = self.lifecycle.equivalent_logs_command()
        self.app.copy_to_clipboard(command)
        self.notify(f"copied: {command}")

    def action_help(self) -> None:
        from comfytui.tui.screens.help import HelpScreen

        rows = [(b.key, b.tooltip or b.description) for b in self.BINDINGS if b.description]
        self.app.push_screen(HelpScreen([("Server screen", rows)]))
