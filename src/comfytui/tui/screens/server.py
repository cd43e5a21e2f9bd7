"""The Server screen (``s`` on the dashboard): the managed ComfyUI container or process.

It shows the service card (backend, name, image, state, exit code, uptime, ports with their host
address, mounts, GPU or CPU mode, the comfytui label), the startup phases with the latest log
line, pull progress per layer and overall, preflight results, the changes a recreate would make,
the last error, and a small log view. Keys start, stop, restart, remove, recreate, pull and check;
the destructive ones ask y/N first.

Everything long runs in the App's ``LifecycleManager`` (``app.lifecycle``): this screen only
calls its intents and renders its state, so leaving the screen never stops a pull or a start.
The manager's updates arrive through a listener that marks what changed and posts one
``ServerChanged`` message; a burst of pull or log events costs one render.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, RichLog, Static

from comfytui.core.lifecycle.manager import LifecycleManager, LifecycleUpdate
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


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class ServerChanged(Message):
    """The lifecycle manager changed something; the handler renders what is dirty."""


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
            text.append(f"  exit code {status.exit_code}", style="red" if status.exit_code else "")
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


def phase_text(phase: PhaseChanged | None, busy: str | None, reached_before: Phase | None = None) -> Text:
    """The phase ladder (pulled → created → running → HTTP → WS) and the latest log line of the start.

    ``reached_before`` is the last phase reached when ``phase`` is a failure (the ladder keeps it)."""
    text = Text()
    if phase is None:
        text.append("no start in this session" if busy is None else f"{busy}…", style="dim")
        return text
    failed = phase.phase is Phase.FAILED
    last = reached_before if failed else phase.phase
    reached = PHASE_ORDER.index(last) if last in PHASE_ORDER else -1
    for i, step in enumerate(PHASE_ORDER):
        if i:
            text.append(" → ", style="dim")
        if i <= reached:
            text.append(f"✔ {PHASE_LABELS[step]}", style="green")
        elif i == reached + 1 and not failed and busy:
            text.append(f"… {PHASE_LABELS[step]}", style="bold yellow")
        else:
            text.append(PHASE_LABELS[step], style="dim")
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
    ServerScreen #server-log { height: 1fr; min-height: 5; max-height: 14; border: round $primary 50%; background: $surface; }
    ServerScreen #server-log:focus { border: round $accent; }
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

    def __init__(self, app: App[Any]) -> None:
        super().__init__()
        self.comfy_app = app
        self.config = getattr(app, "config", None)
        self.lifecycle: LifecycleManager | None = getattr(app, "lifecycle", None)
        self._posted = False
        self._dirty: set[str] = set()
        self._pending_logs: list[LogLine] = []
        self._pull_layers: dict[str, PullProgress] = {}
        self._reached: Phase | None = None
        self._ready_to_render = False
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
        yield RichLog(
            max_lines=LOG_VIEW_LINES,
            wrap=False,
            markup=False,
            highlight=False,
            auto_scroll=True,
            id="server-log",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#server-card-box").border_title = "Service"
        self.query_one("#server-phase").border_title = "Startup"
        self.query_one("#server-pull").border_title = "Pull"
        self.query_one("#server-details").border_title = "Changes · preflight"
        log_view = self.query_one("#server-log", RichLog)
        manager = self.lifecycle
        if manager is None:
            self.query_one("#server-title", Static).update(
                Text(
                    "Server · no lifecycle manager in this app (backend not configured)", style="bold yellow"
                )
            )
            return
        log_view.border_title = "Log [l]"
        log_view.border_subtitle = manager.equivalent_logs_command()
        for line in manager.log_lines:
            log_view.write(self._log_text(line))
        if manager.pull is not None:
            self._pull_layers[manager.pull.layer] = manager.pull
        manager.add_listener(self._lifecycle_changed)
        self._ready_to_render = True
        self._dirty = {"all"}
        self._render_state()
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
            self.lifecycle.remove_listener(self._lifecycle_changed)

    # -- manager -> screen (called on the event loop; only records and posts)

    def _lifecycle_changed(self, update: LifecycleUpdate) -> None:
        kind = update.kind
        if kind == "log" and isinstance(update.payload, LogLine):
            self._pending_logs.append(update.payload)
        elif kind == "pull" and isinstance(update.payload, PullProgress):
            if update.payload.layer:
                self._pull_layers[update.payload.layer] = update.payload
        elif kind == "notice" and isinstance(update.payload, Notice):
            self.notices_seen.append(update.payload)
            self.notify(
                update.payload.text,
                severity="warning" if update.payload.level == "warning" else "information",
            )
        elif kind == "phase" and isinstance(update.payload, PhaseChanged):
            if update.payload.phase in PHASE_ORDER:
                self._reached = update.payload.phase
        elif kind == "busy" and update.payload == "pulling":
            self._pull_layers.clear()
        elif kind == "busy" and update.payload in ("starting", "restarting", "recreating"):
            self._reached = None
        self._dirty.add(kind)
        if not self._posted:
            self._posted = True
            self.post_message(ServerChanged())

    def on_server_changed(self, _message: ServerChanged) -> None:
        self._posted = False
        self._render_state()

    def _render_state(self) -> None:
        manager = self.lifecycle
        if manager is None or not self._ready_to_render:
            return
        dirty, self._dirty = self._dirty, set()
        every = "all" in dirty
        if every or dirty & {"status", "busy", "error", "notice"}:
            self._render_title(manager)
            self.query_one("#server-card", Static).update(card_text(manager, manager.status))
            self.query_one("#server-notices", Static).update(notices_text(manager))
        if every or dirty & {"phase", "busy"}:
            self.query_one("#server-phase", Static).update(
                phase_text(manager.phase, manager.busy, self._reached)
            )
        if every or dirty & {"pull", "busy"}:
            box = self.query_one("#server-pull")
            pulling = manager.busy == "pulling" or manager.pull is not None
            box.set_class(not pulling, "-idle")
            if manager.pull is not None and manager.pull.percent is not None:
                self.query_one("#pull-bar", ProgressBar).update(progress=manager.pull.percent)
            self.query_one("#pull-layers", Static).update(pull_text(self._pull_layers, manager.pull))
        if every or "preflight" in dirty:
            self.query_one("#server-preflight", Static).update(preflight_text(manager.preflight))
        if every or dirty & {"changes", "status"}:
            self.query_one("#server-changes", Static).update(
                changes_text(manager.changes, manager.status, manager.kind)
            )
        if every or dirty & {"error", "busy"}:
            error = self.query_one("#server-error", Static)
            error.update(Text("✖ " + manager.error, style="bold") if manager.error else "")
            error.set_class(not manager.error, "-empty")
        if self._pending_logs:
            lines, self._pending_logs = self._pending_logs, []
            view = self.query_one("#server-log", RichLog)
            for line in lines[-LOG_VIEW_LINES:]:
                view.write(self._log_text(line))

    def _render_title(self, manager: LifecycleManager) -> None:
        status = manager.status
        text = Text("Server · ", style="bold")
        text.append(f"{manager.kind} {manager.name}")
        if status is not None:
            text.append(" · ")
            text.append(status.state.value, style=STATE_STYLES.get(status.state, ""))
        if manager.busy:
            text.append(f" · {manager.busy}… (Esc cancels)", style="bold yellow")
        self.query_one("#server-title", Static).update(text)

    @staticmethod
    def _log_text(line: LogLine) -> Text:
        lower = line.text.lower()
        style = ""
        if "traceback" in lower or "error" in lower or "exception" in lower:
            style = "red"
        elif "warn" in lower:
            style = "yellow"
        elif line.stream == "stderr":
            style = "dim"
        return Text(line.text, style=style)

    # -- intents

    def _manager(self) -> LifecycleManager | None:
        if self.lifecycle is None:
            self.notify(
                'no lifecycle manager: set backend = "container" or "process" in the config',
                severity="warning",
            )
        return self.lifecycle

    def _refuse_readonly(self) -> bool:
        if getattr(self.comfy_app, "readonly", False):
            self.notify("read-only mode: this would change the server", severity="warning")
            return True
        return False

    def _confirm(self, question: str, detail: str, then: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    def action_start(self) -> None:
        manager = self._manager()
        if manager is not None and not self._refuse_readonly():
            manager.start_service()

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
        changes = manager.changes
        detail = "\n".join(f"• {c}" for c in changes) if changes else "No change from the config is known."
        detail += "\n\nThe container is removed and made again; data folders are kept."
        self._confirm(f"Recreate {manager.name}?", detail, manager.recreate_service)

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
        self.query_one("#server-log", RichLog).focus()

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
