"""ComfyTuiApp: the dashboard. It builds the app's ``Services`` once (session, lifecycle manager,
GPU feed, ``/system_stats`` poller), owns the long-lived workers so they survive screen changes,
renders the session's state, and turns keys into intents.

The session and the lifecycle manager call our listeners on the event loop; the listeners only
post typed messages. The session's listener notes what changed and posts one ``SessionChanged``
per render, at most every ``RENDER_S`` (its handler renders the latest state), so a flood of
websocket frames costs a few messages and renders, not one each. Other messages of one kind that
pile up behind each other are merged by Textual (``Message.can_replace``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.comfy.stats import StatsSample, SystemStatsPoller
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.gpu.feed import GpuFeed
from comfytui.core.workflows.library import WorkflowEntry
from comfytui.tui.services import Services, changes_server
from comfytui.tui.theme import register_themes
from comfytui.tui.widgets.devices_pane import DevicesPane
from comfytui.tui.widgets.log_pane import LogPane
from comfytui.tui.widgets.preview_pane import PreviewPane
from comfytui.tui.widgets.servers_pane import ServersPane
from comfytui.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from comfytui.core.gpu.sampler import GpuSampler
    from comfytui.core.lifecycle.events import LifecycleEvent
    from comfytui.tui.widgets.history_pane import HistoryTable
    from comfytui.tui.widgets.queue_pane import QueuePane
    from comfytui.tui.widgets.workflows_pane import WorkflowList

# Start-up time: the lifecycle package (podman, process backends), the screens, the podman
# socket lookup and the GPU sampler (built by the feed's first sample) are imported where first
# used, not here: the first frame needs none of them. Nor the Workflows, Queue and History panes
# and the footer (~25 ms of imports): in a terminal they are mounted just after the first frame.

DEVICE_POLL_S = 3.0
DEVICE_IDLE_POLL_S = 15.0
"""/system_stats and NVML while no job runs and no full screen (GPU, Server...) is open: an idle
server's numbers barely move. A server going down shows at once anyway (the websocket drops)."""
RENDER_S = 0.1
"""The session's state (jobs, header, ComfyUI's log) renders at most ~10 times a second, however
fast the websocket's messages come."""


def _nvml_sampler(config: Config) -> GpuSampler:
    """The sampler on the real pynvml, configured by ``config.gpu``."""
    from comfytui.core.gpu.sampler import GpuSampler

    return GpuSampler(config.gpu)


class _PodmanNamesLater:
    """The GPU feed's container-name source, built on first use: only a GPU process in an unknown
    container asks, and the podman module is not worth importing before the first frame."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self._names: Any = None

    async def __call__(self) -> Any:
        if self._names is None:
            from comfytui.core.gpu.containers import PodmanNames
            from comfytui.core.lifecycle.podman_backend import socket_candidates

            self._names = PodmanNames(socket_candidates(self.socket))
        return await self._names()

    def close(self) -> None:
        close = getattr(self._names, "close", None)
        if callable(close):
            close()


# -- what the listeners post (each merges with a queued one of its kind)


class SessionChanged(Message):
    """Jobs, the connection or ComfyUI's log changed: the app renders what did (``_dirty``)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SessionChanged)


class PreviewArrived(Message):
    """A live preview frame arrived (the session keeps only the latest one)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PreviewArrived)


class LogsArrived(Message):
    """ComfyUI log lines, ``(time, text)`` each."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lines = lines

    def can_replace(self, message: Message) -> bool:
        if isinstance(message, LogsArrived):
            message.lines[:0] = self.lines  # keep the order: these came first
            return True
        return False


class StatsArrived(Message):
    """A ``/system_stats`` poll answered (or failed)."""

    def __init__(self, sample: StatsSample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatsArrived)


class ServiceChanged(Message):
    """The lifecycle manager reported something (status, phase, busy, error, a log line)."""

    def __init__(self, event: LifecycleEvent) -> None:
        super().__init__()
        self.event = event


class PanePlaceholder(Static):
    """A heavy pane's stand-in in a terminal's first frame: its id (so its size) and its border
    and title, so nothing moves when the pane takes its place right after."""

    DEFAULT_CSS = """
    PanePlaceholder { border: round $primary 60%; border-title-color: $text; height: 1fr; }
    PanePlaceholder.-footer { border: none; dock: bottom; height: 1; background: $footer-background; }
    """


class ComfyTuiApp(App[int]):
    CSS_PATH = "comfytui.tcss"
    TITLE = "comfytui"
    ENABLE_COMMAND_PALETTE = True
    # Screen classes by terminal size (comfytui.tcss): an 80x24 SSH session gets the narrow layout.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-very-narrow"), (90, "-narrow"), (110, "-wide"), (160, "-very-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="List every key"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("r", "queue_selected(False)", "Queue wf", id="queue.run", tooltip="Queue the selected workflow"),
        Binding("R", "queue_selected(True)", "Queue at front", id="queue.front", show=False),
        Binding("c", "cancel_job", "Cancel", id="queue.cancel", tooltip="Cancel the selected pending job"),
        Binding("i", "interrupt", "Interrupt", id="queue.interrupt", tooltip="Interrupt the running job"),
        Binding("C", "clear_pending", "Clear pending", id="queue.clear", show=False),
        Binding("e", "edit_workflow", "Edit & queue", id="workflow.edit", tooltip="Open the selected workflow's parameter form"),
        Binding("s", "open_screen('server')", "Server", id="screen.server", tooltip="The ComfyUI container or process: start, stop, phases"),
        Binding("g", "open_screen('gpu')", "GPUs", id="screen.gpu", tooltip="GPUs, VRAM, processes; free memory"),
        Binding("m", "open_screen('models')", "Models", id="screen.models", tooltip="Browse models: size, date, metadata, sha256"),
        Binding("1", "focus_pane('workflows')", "Workflows", show=False, id="focus.workflows"),
        Binding("2", "focus_pane('queue-table')", "Queue", show=False, id="focus.queue"),
        Binding("3", "focus_pane('history-table')", "History", show=False, id="focus.history"),
        Binding("4", "focus_pane('logs')", "Logs", show=False, id="focus.logs"),
        Binding("5", "focus_pane('preview')", "Preview", show=False, id="focus.preview"),
        Binding("6", "focus_pane('devices')", "Devices", show=False, id="focus.devices"),
        Binding("f5,ctrl+r", "refresh_all", "Refresh", show=False, id="app.refresh", tooltip="Re-read the server, the workflow folders and the config's [workflows] section"),
        Binding("z", "toggle_maximize", "Maximize", show=False, id="app.maximize", tooltip="Maximize the focused pane (z or Esc again: back)"),
        Binding("o", "open_workflow_path", "Open file", show=False, id="workflow.open", tooltip="Open a workflow file by path (Tab completes)"),
        Binding("ctrl+n", "next_server", "Next server", show=False, id="server.next", tooltip="Fleet: switch the current server to the next one"),
    ]
    DASHBOARD_ONLY_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {
            "queue_selected", "cancel_job", "interrupt", "clear_pending", "edit_workflow", "open_screen",
            "focus_pane", "refresh_all", "toggle_maximize", "open_workflow_path", "next_server",
        }
    )
    """Dashboard keys: on any other screen they are off (and out of its footer), so a key that
    the focused widget ignores never quits, queues or cancels behind the user's back."""

    def __init__(
        self,
        config: Config,
        *,
        readonly: bool = False,
        session: ComfySession | None = None,
        gpu_sampler: GpuSampler | None = None,
        servers: list[tuple[str, Config]] | None = None,
    ) -> None:
        """``gpu_sampler``: the NVML sampler to use (tests pass one on ``FakeNvml``); by default
        one on the real pynvml, configured by ``config.gpu``."""
        super().__init__()
        # The theme before the first stylesheet parse: set in on_mount it re-parsed every rule.
        register_themes(self)
        if config.ui.theme in self.available_themes:
            self.theme = config.ui.theme
        self._restore_later = session is None
        """Our own session reads its journal after the first frame (10,000 stored jobs: ~0.2 s)."""
        session = session or ComfySession(config, role="dashboard", follow_logs=True, restore=False)
        self.services = Services(
            config=config,
            session=session,
            gpu_feed=GpuFeed(
                gpu_sampler or (lambda: _nvml_sampler(config)),
                container_names=_PodmanNamesLater(config.container.socket),
                idle_interval_s=DEVICE_IDLE_POLL_S,
            ),
            lifecycle=self._make_lifecycle(config),
            stats_poller=SystemStatsPoller(session.client, interval_s=DEVICE_POLL_S, idle_interval_s=DEVICE_IDLE_POLL_S),
            readonly=readonly,
            store=self._open_store(),
        )
        self.frames_seen = 0
        self._watched_jobs: set[str] = set()
        self.config_path: Path | None = None
        """The config file F5 re-reads (None: $COMFYTUI_CONFIG or the default path)."""
        self._exit_renders = False
        self._service_line: str | None = None
        self.servers, self.server_name = self._fleet_of(config, servers)
        """The fleet's servers (name, config) the strip shows, and the current one's name."""
        self._dirty: set[str] = set()
        """What changed in the session since its last render: "jobs", "connection", "logs"."""
        self._render_queued = False
        """A ``SessionChanged`` or the throttle's timer is on its way: it renders ``_dirty``."""
        self._rendered_at = 0.0
        self._log_backlog: list[tuple[str, str]] = []
        """ComfyUI's log lines not rendered yet."""
        self._history_news = False
        """A job finished since the last render: History renders too."""
        self._preview_queued = False
        """A ``PreviewArrived`` is waiting: its handler shows the latest frame."""
        self._tick_timer: Any = None
        """The 1 s elapsed/ETA tick: paused while no job runs (an idle dashboard must not wake)."""
        self._deferred_panes: list[tuple[PanePlaceholder, Callable[[], Widget]]] = []
        """Placeholders in the first frame and the panes that replace them just after it."""
        self._panes_ready = False
        """Every pane is mounted (in a terminal, just after the first frame)."""
        self._pending_focus: str | None = None
        """A pane key (1-6) typed before the panes were mounted: focused once they are."""

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def session(self) -> ComfySession:
        return self.services.session

    @property
    def lifecycle(self) -> Any:
        return self.services.lifecycle

    @property
    def readonly(self) -> bool:
        return self.services.readonly

    @staticmethod
    def _make_lifecycle(config: Config) -> Any:
        """The container/process manager, when comfytui manages ComfyUI (``backend`` is set)."""
        if config.backend == "none":
            return None
        try:
            from comfytui.core.lifecycle.manager import LifecycleManager
        except ModuleNotFoundError:
            return None
        return LifecycleManager(config)

    # -- layout

    def compose(self) -> ComposeResult:
        services = self.services
        yield StatusLine(id="status-line")
        if len(self.servers) > 1:
            yield ServersPane(self.servers, self.server_name, services, id="servers")
        with Horizontal(id="top-row"):
            yield self._pane_or_placeholder("workflows", "Workflows [1]", self._make_workflow_list)
            yield self._pane_or_placeholder("queue", "Queue [2]", self._make_queue_pane)
            yield PreviewPane(self.config.ui.image_protocol, self.config.ui.preview_max_fps, id="preview")
        with Horizontal(id="middle-row"):
            yield self._pane_or_placeholder("history", "History [3]", self._make_history_pane)
            with Vertical(id="side"):
                yield DevicesPane(services.gpu_feed, services.managed_container, id="devices")
        yield LogPane(self.config.ui.log_lines, id="logs")
        yield self._pane_or_placeholder(None, "", self._make_footer)

    def _make_workflow_list(self) -> Widget:
        from comfytui.tui.widgets.workflows_pane import WorkflowList

        return WorkflowList(self.services.config, self.services.session.client, id="workflows")

    def _make_queue_pane(self) -> Widget:
        from comfytui.tui.widgets.queue_pane import QueuePane

        return QueuePane(self.services, self.servers, id="queue")

    def _make_history_pane(self) -> Widget:
        from comfytui.tui.widgets.history_pane import HistoryPane

        return HistoryPane(self.services, self.servers, id="history")

    @staticmethod
    def _make_footer() -> Widget:
        from comfytui.tui.widgets.footer import Footer

        return Footer()

    @property
    def workflow_list(self) -> WorkflowList:
        return cast("WorkflowList", self.dashboard.query_one("#workflows"))

    @property
    def queue_pane(self) -> QueuePane:
        return cast("QueuePane", self.dashboard.query_one("#queue"))

    @property
    def history_table(self) -> HistoryTable:
        return cast("HistoryTable", self.dashboard.query_one("#history-table"))

    def _pane_or_placeholder(self, pane_id: str | None, title: str, make: Callable[[], Widget]) -> Widget:
        """In a terminal, a placeholder now and the pane right after the first frame (the Queue,
        History, Workflows panes and the footer cost ~100 ms to mount); headless (tests, snapshots),
        the pane itself."""
        if self.is_headless:
            return make()
        placeholder = PanePlaceholder(id=pane_id, classes="" if pane_id else "-footer")
        placeholder.border_title = title or None
        self._deferred_panes.append((placeholder, make))
        return placeholder

    def on_mount(self) -> None:
        self._render_connection()
        if self._deferred_panes:
            self.call_after_refresh(self._mount_deferred_panes)
        else:
            self._panes_mounted()

    async def _mount_deferred_panes(self) -> None:
        deferred, self._deferred_panes = self._deferred_panes, []
        if self._exit_renders or not self.is_running:
            return
        places = [(placeholder.parent, placeholder.parent.children.index(placeholder), make) for placeholder, make in deferred]
        for placeholder, _make in deferred:
            await placeholder.remove()
        mounts = []
        for parent, index, make in places:  # in compose order: each index is free again when its turn comes
            widget = make()
            mounts.append(parent.mount(widget, before=index) if index < len(parent.children) else parent.mount(widget))
        for mounted in mounts:
            await mounted
        self._panes_mounted()

    def _panes_mounted(self) -> None:
        if self._exit_renders:
            return
        self._panes_ready = True
        self.session.add_listener(self._on_session_update)
        self._render_jobs(history=not self._restore_later)  # History: after the first frame
        if self.lifecycle is not None:
            self.lifecycle.add_listener(lambda update: self.post_message(ServiceChanged(update)))
            self.dashboard.query_one(LogPane).equivalent_command = self.lifecycle.equivalent_logs_command()
        self._tick_timer = self.set_interval(1.0, self._tick, pause=self.session.book.running_id is None)
        self.workflow_list.focus()
        if self._pending_focus is not None:
            self.action_focus_pane(self._pending_focus)
        self.refresh_bindings()
        # The first frame first: the workers below import and start the HTTP stack, NVML and the
        # workflow loaders (Textual's eager tasks run them up to their first await right here).
        self.call_after_refresh(self._start_background)

    def _start_background(self) -> None:
        if self._exit_renders or not self.is_running:
            return
        self.workflow_list.reload()
        self.start_session()
        self.services.gpu_feed.start()  # one NVML loop for the app: the Devices pane and GPU screen subscribe
        stats_poller = self.services.stats_poller
        stats_poller.subscribe(lambda sample: self.post_message(StatsArrived(sample)))
        stats_poller.start()
        if self.lifecycle is not None:
            self.watch_service()
            self.follow_service_logs()
        self.screen_change_signal.subscribe(self, lambda _screen: self._set_device_rates())
        self._set_device_rates()

    @work(exclusive=True, group="session-start", exit_on_error=False, description="reading the job journal")
    async def start_session(self) -> None:
        """The journal's jobs (read in a thread), then the connection and the local queue's dispatch."""
        if self._restore_later:
            self._restore_later = False
            try:
                await self.session.restore_journal()
            except Exception:  # noqa: BLE001 - a broken store must not keep the dashboard offline
                self.log.error("could not read the job journal")
        if self._exit_renders:
            return
        self._render(self._render_jobs, True)
        self.run_session()
        self._start_dispatch()

    @property
    def dashboard(self) -> Screen[Any]:
        """The dashboard screen (the bottom of the stack), whatever screen is on top of it."""
        return self.screen_stack[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self._panes_ready and action in self.DASHBOARD_ONLY_ACTIONS and action != "focus_pane":
            return False  # the panes are not mounted yet (a key in the first instant)
        if action in self.DASHBOARD_ONLY_ACTIONS and self.screen_stack and self.screen is not self.dashboard:
            return False
        return True

    def _can_render(self) -> bool:
        """False once the app is leaving: its screens (and their widgets) may already be gone."""
        return not self._exit_renders and bool(self.screen_stack) and self.is_running

    # -- workers (owned by the App so they outlive screen changes)

    @work(exclusive=True, group="comfy-session", exit_on_error=False, description="ComfyUI connection")
    async def run_session(self) -> None:
        await self.session.run()

    @work(exclusive=True, group="service-status", exit_on_error=False, description="container/process status")
    async def watch_service(self) -> None:
        await self.lifecycle.watch_status()

    @work(exclusive=True, group="service-logs", exit_on_error=False, description="container/process logs")
    async def follow_service_logs(self) -> None:
        await self.lifecycle.follow_logs()

    # -- core -> messages (listeners run on the event loop and only post)

    def _on_session_update(self, update: SessionUpdate) -> None:
        # Called for every websocket message: it notes what changed and posts at most one message
        # per render (a Textual message costs more than the session's whole handling of a frame).
        event = update.event
        if isinstance(event, ev.Connected | ev.Disconnected | ev.Status):
            self._changed("connection")
            if isinstance(event, ev.Connected):
                self.services.stats_poller.poke()  # fresh numbers for the Devices pane at once
        elif isinstance(event, ev.PreviewImage):
            self.frames_seen += 1
            if not self._preview_queued:  # the preview pane keeps its own frame rate
                self._preview_queued = self.post_message(PreviewArrived())
        elif isinstance(event, ev.LogEntries):
            self._log_backlog.extend((e.time, e.message) for e in event.entries)
            self._changed("logs")
        if isinstance(event, ev.Malformed):
            self._changed("connection")  # the header counts skipped messages
        if update.changed:
            if not self._history_news:
                book = self.session.book
                self._history_news = any((job := book.get(pid)) is None or job.state.finished for pid in update.changed)
            self._changed("jobs")
            self._toast_failures(update.changed)
            self._alert_job_ends(update.changed)

    def _changed(self, part: str) -> None:
        """``part`` of the session's state changed. At most RENDER_S apart: a burst of progress
        messages would otherwise repaint the panes once per message. The first change renders at
        once (keys stay snappy); later ones in the window fold into one render by a timer."""
        self._dirty.add(part)
        if self._render_queued:
            return
        wait = self._rendered_at + RENDER_S - time.monotonic()
        if wait > 0:
            self._render_queued = True
            self.set_timer(wait, self._render_session)
        else:
            self._render_queued = self.post_message(SessionChanged())

    def _toast_failures(self, changed: Iterable[str]) -> None:
        """A job of ours that this session saw queued or running and that failed gets a toast: the
        History row alone is easy to miss (and a job whose nodes were cached ends in a blink)."""
        for pid in changed:
            job = self.session.book.get(pid)
            if job is None or job.foreign:
                continue
            if not job.state.finished:
                self._watched_jobs.add(pid)
            elif pid in self._watched_jobs:
                self._watched_jobs.discard(pid)
                if job.state == JobState.ERROR:
                    error = job.error
                    where = f" in node {error.node_id} {error.node_type or ''}".rstrip() if error and error.node_id else ""
                    detail = f"{error.exception_type}: {error.exception_message}" if error else "see the job (History, Enter)"
                    self.notify(detail, title=f"{job.label or pid[:8]} failed{where}", severity="error", timeout=12, markup=False)

    # -- messages -> widgets

    def _render(self, render: Any, *args: Any) -> None:
        if not self._can_render():
            return
        try:
            render(*args)
        except NoMatches:
            pass  # the app is shutting down and its widgets are gone

    @property
    def session_render_pending(self) -> bool:
        """A change of the session's state is not rendered yet (it will be within RENDER_S)."""
        return self._render_queued

    def on_session_changed(self, _message: SessionChanged) -> None:
        self._render_session()

    def _render_session(self) -> None:
        self._render_queued = False
        self._rendered_at = time.monotonic()
        dirty, self._dirty = self._dirty, set()
        if "connection" in dirty:
            self._render(self._render_connection)
        if "logs" in dirty and self._log_backlog:
            lines, self._log_backlog = self._log_backlog, []
            self._render(lambda: self.dashboard.query_one(LogPane).add("comfyui", lines))
        if "jobs" in dirty:
            history, self._history_news = self._history_news, False
            self._render(self._render_jobs, history)

    def on_preview_arrived(self, _message: PreviewArrived) -> None:
        self._preview_queued = False
        self._render(self._render_preview)

    def on_logs_arrived(self, message: LogsArrived) -> None:
        self._render(lambda: self.dashboard.query_one(LogPane).add("comfyui", message.lines))

    def on_stats_arrived(self, message: StatsArrived) -> None:
        stats = message.sample.stats
        if stats is not None:
            self._render(lambda: self.dashboard.query_one(DevicesPane).show(stats.raw))

    def on_service_changed(self, message: ServiceChanged) -> None:
        self._render(self._show_lifecycle_update, message.event)

    def _show_lifecycle_update(self, event: LifecycleEvent) -> None:
        from comfytui.core.lifecycle.events import BusyChanged, ErrorReported, StatusChanged
        from comfytui.core.lifecycle.types import LogLine, PhaseChanged

        match event:
            case LogLine():
                self.dashboard.query_one(LogPane).add(self.lifecycle.kind, [(str(event.time or ""), event.text + "\n")])
                return
            case StatusChanged(status=status) if self.lifecycle.kind == "process" and status.pid:
                # NVML lists host PIDs: tell the sampler which one is the ComfyUI we run.
                self.services.gpu_feed.set_comfyui_pids([status.pid])
            case ErrorReported(text=text) if text:
                self.notify(text, title="server", severity="error", timeout=10, markup=False)
        if isinstance(event, StatusChanged | PhaseChanged | BusyChanged | ErrorReported):
            self._service_line = self._describe_service()
            self._render_connection()

    def _describe_service(self) -> str | None:
        manager = self.lifecycle
        if manager is None:
            return None
        parts = [manager.kind]
        if manager.busy:
            parts.append(manager.busy)
            if manager.phase is not None:
                parts.append(str(manager.phase.phase))
        elif manager.status is not None:
            parts.append(str(manager.status.state))
        return " ".join(parts)

    def _render_connection(self) -> None:
        self.dashboard.query_one(StatusLine).show(
            self.session.connection,
            self.session.book.queue_remaining,
            self.session.client_id,
            self.readonly,
            service=self._service_line,
            malformed=self.session.malformed_count,
        )

    def _render_jobs(self, history: bool) -> None:
        self.queue_pane.show(self.session.book)
        if self._tick_timer is not None:
            # every start and end of a job comes through here
            (self._tick_timer.resume if self.session.book.running_id else self._tick_timer.pause)()
        self._set_device_rates()
        if history:
            self.history_table.show(self.session.book, self.config.ui.history_items)

    def _render_preview(self) -> None:
        frame = self.session.latest_preview
        if frame is None:
            return
        job = self.session.book.get(self.session.preview_job or "") if self.session.preview_job else None
        caption = f"{job.prompt_id[:8]} node {frame.node_id or job.node or '?'}" if job else "preview"
        if job and job.steps:
            caption += f" · step {job.step}/{job.steps}"
        self.dashboard.query_one(PreviewPane).offer(frame.image, caption)

    def _set_device_rates(self) -> None:
        """GPU and /system_stats at full rate while a job runs or a full screen (GPU, Server…) is
        up; slow while the dashboard sits idle. Going live samples at once."""
        live = self.session.book.running_id is not None or (bool(self.screen_stack) and self.screen is not self.dashboard)
        self.services.gpu_feed.set_live(live)
        self.services.stats_poller.set_live(live)

    def _tick(self) -> None:
        # elapsed time of the running job moves even without events
        if self.session.book.running_id and self._can_render():
            self.queue_pane.show(self.session.book)

    # -- intents

    def action_queue_selected(self, front: bool = False) -> None:
        entry = self.workflow_list.selected()
        if entry is None:
            self.notify("no workflow selected (focus the Workflows pane with 1)", severity="warning")
            return
        self.queue_workflow(entry, front)

    def on_workflow_list_queue_requested(self, message: WorkflowList.QueueRequested) -> None:
        self.queue_workflow(message.entry, message.front)

    @work(group="submit", exit_on_error=False, description="queueing a workflow")
    @changes_server
    async def queue_workflow(self, entry: WorkflowEntry, front: bool = False) -> None:
        from comfytui.core.queue.submit import submit_batch
        from comfytui.core.workflows.preflight import preflight_prompt
        from comfytui.core.workflows.prompts import resolve_prompt

        try:
            resolved = await resolve_prompt(Path(entry.path), self.session.client)
            preflight_prompt(resolved.prompt, resolved.object_info, source=entry.name)
            prompt, notes = await self._seeds_like_the_frontend(entry, resolved)
            submitted = await submit_batch(
                self.session, prompt, object_info=resolved.object_info,
                label=entry.name, workflow=resolved.workflow, front=front, source=str(entry.path),
            )
        except ComfyTuiError as exc:
            if self.session.connection.state != "connected":
                self.notify(f"cannot queue: server down ({exc})", title=entry.name, severity="error", timeout=12, markup=False)
            else:
                self.notify(str(exc), title=f"cannot queue {entry.name}", severity="error", timeout=12, markup=False)
            return
        for warning in resolved.warnings:
            self.notify(warning, severity="warning", markup=False)
        where = " to the local queue" if submitted.local else ""
        self.notify(f"queued {entry.name} ({submitted.prompt_ids[0][:8]}){where}" + (" at the front" if front else ""), markup=False)
        for note in notes:
            self.notify(note, title=entry.name, markup=False, timeout=8)

    def action_cancel_job(self) -> None:
        queue = self.queue_pane
        if queue.services is not None:
            queue.action_cancel()  # local, pending or running (asks), through the local queue
            return
        pid = queue.selected_job_id()
        if pid is None:
            self.notify("no job selected in the Queue pane", severity="warning")
            return
        job = self.session.book.get(pid)
        if job is not None and job.state == JobState.RUNNING:
            self.action_interrupt()
            return
        self.cancel_job(pid)

    @work(group="cancel", exit_on_error=False, description="cancelling a job")
    @changes_server
    async def cancel_job(self, prompt_id: str) -> None:
        try:
            what = await self.session.cancel(prompt_id)
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"{what} {prompt_id[:8]}")

    @work(group="interrupt", exit_on_error=False, description="interrupting the running job")
    @changes_server
    async def action_interrupt(self) -> None:
        running = self.session.book.running_id
        if running is None:
            self.notify("nothing is running", severity="warning")
            return
        job = self.session.book.get(running)
        label = job.label if job and job.label else running[:8]
        from comfytui.tui.screens.confirm import ConfirmScreen

        if not await self.push_screen_wait(ConfirmScreen(f"Interrupt the running job {label}?", "Its progress is lost.")):
            return
        try:
            await self.session.interrupt(running)
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"interrupt sent to {label}", markup=False)

    @work(group="clear", exit_on_error=False, description="clearing pending jobs")
    @changes_server
    async def action_clear_pending(self) -> None:
        pending = [j for j in self.session.book.active() if j.state == JobState.PENDING]
        if not pending:
            self.notify("no pending jobs", severity="warning")
            return
        from comfytui.tui.screens.confirm import ConfirmScreen

        if not await self.push_screen_wait(
            ConfirmScreen(f"Remove all {len(pending)} pending jobs?", "Jobs of other clients are removed too.")
        ):
            return
        # Count what is pending when the clear is sent: a job may have started while the dialog
        # was open, and the server does not remove a running job.
        still_pending = {j.prompt_id for j in self.session.book.active() if j.state == JobState.PENDING}
        try:
            await self.session.clear_pending()
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        survivors = {j.prompt_id for j in self.session.book.active() if j.state != JobState.PENDING}
        cleared = len(still_pending - survivors)
        self.notify(f"cleared {cleared} pending job{'s' if cleared != 1 else ''}")

    @work(group="open-job", exit_on_error=False, description="opening a job")
    async def on_history_table_open_job(self, message: HistoryTable.OpenJob) -> None:
        store = self.services.store
        job = self.session.book.get(message.prompt_id)
        if job is None and store is not None:  # older than this session: from the store
            from comfytui.core.comfy.journal import row_to_job
            from comfytui.core.comfy.session import OWN_CLIENT_PREFIX

            row = await store.call(store.get, message.prompt_id)
            job = row_to_job(row, OWN_CLIENT_PREFIX) if row is not None else None
        if job is not None:
            from comfytui.tui.screens.job import JobScreen

            self.push_screen(JobScreen(self.session, job, self.config.ui.image_protocol, store=store, outputs=self.config.outputs))

    # -- the fleet: a current server among several (docs/FLEET.md)

    @staticmethod
    def _fleet_of(config: Config, servers: list[tuple[str, Config]] | None) -> tuple[list[tuple[str, Config]], str]:
        """The servers the strip shows and the current one's name: ``servers`` when given (the
        command line's ``--url``s), else the config's ``[servers.*]``; one server: no fleet."""
        if servers is None:
            servers = [(p.name, config.select_server(p.name)) for p in config.fleet()] if len(config.servers) > 1 else []
        current = config.selected_server
        names = [name for name, _ in servers]
        if current not in names:
            urls = [member.server.url.rstrip("/") for _, member in servers]
            url = config.server.url.rstrip("/")
            current = names[urls.index(url)] if url in urls else (names[0] if names else current)
        return list(servers), current

    def action_next_server(self) -> None:
        if len(self.servers) < 2:
            self.notify("one server only: name more in the config ([servers.NAME]) or pass --url twice", severity="warning")
            return
        names = [name for name, _ in self.servers]
        self.switch_server(names[(names.index(self.server_name) + 1) % len(names)])

    @work(exclusive=True, group="switch-server", exit_on_error=False, description="switching the current server")
    async def switch_server(self, name: str) -> None:
        """Make ``name`` the current server: a new session, lifecycle manager and stats poller for
        it (the header, Devices, Logs and the Server, GPU and Models screens follow); the store, the
        local queue and the GPU feed stay."""
        import dataclasses

        members = dict(self.servers)
        if name not in members or name == self.server_name:
            return
        config = members[name]
        old = self.services
        for _ in range(len(self.screen_stack) - 1):  # screens built on the old server's services
            await self.pop_screen()
        for group in ("dispatch", "comfy-session", "service-status", "service-logs"):
            self.workers.cancel_group(self, group)
        await old.stats_poller.stop()
        await old.session.aclose()
        if old.lifecycle is not None:
            await old.lifecycle.aclose()
        session = ComfySession(config, role="dashboard", follow_logs=True)
        services = dataclasses.replace(
            old, config=config, session=session, lifecycle=self._make_lifecycle(config),
            stats_poller=SystemStatsPoller(session.client, interval_s=DEVICE_POLL_S, idle_interval_s=DEVICE_IDLE_POLL_S),
        )
        self.services = services
        self.server_name = name
        self._service_line = None
        self._watched_jobs.clear()
        dashboard = self.dashboard
        for widget in (self.queue_pane, dashboard.query_one("#history"), self.history_table):
            widget.services = services
        workflows = self.workflow_list
        workflows.config, workflows.client = config, session.client
        dashboard.query_one(DevicesPane).managed_container = services.managed_container
        log_pane = dashboard.query_one(LogPane)
        log_pane.equivalent_command = ""
        log_pane.add("comfytui", [("", f"-- current server: {name} ({config.server.url})\n")])
        session.add_listener(self._on_session_update)
        self.run_session()
        services.stats_poller.subscribe(lambda sample: self.post_message(StatsArrived(sample)))
        services.stats_poller.start()
        if services.lifecycle is not None:
            services.lifecycle.add_listener(lambda update: self.post_message(ServiceChanged(update)))
            log_pane.equivalent_command = services.lifecycle.equivalent_logs_command()
            self.watch_service()
            self.follow_service_logs()
        for strip in dashboard.query(ServersPane):
            strip.set_current(name, services)
        self._render_connection()
        self._render_jobs(history=True)
        self._start_dispatch()
        self.notify(f"current server: {name} ({config.server.url})", markup=False)

    # -- the local queue: the dashboard dispatches while it is open (docs/QUEUE.md)

    @staticmethod
    def _open_store() -> Any:
        from comfytui.core.store.db import open_store

        try:
            return open_store()
        except Exception:  # noqa: BLE001 - without a store the dashboard still shows the server
            return None

    def _start_dispatch(self) -> None:
        from comfytui.tui.dispatch import DashboardDispatch

        store = self.services.store
        self.dispatch: DashboardDispatch | None = None
        if store is None or self.readonly:
            return  # read-only: this dashboard never sends anything
        self.dispatch = DashboardDispatch(self.config, store, self.session)
        self.dispatch.on_change = lambda: self._render(
            lambda: self.queue_pane.set_dispatch_line(self.dispatch.line if self.dispatch else "")
        )
        # jobs recorded from /history (fast foreign ones the session never saw) show in History
        self.dispatch.on_recorded = self._on_jobs_recorded
        self.run_dispatch()

    def _on_jobs_recorded(self, _ids: object) -> None:
        self._history_news = True
        self._changed("jobs")

    @work(exclusive=True, group="dispatch", exit_on_error=False, description="sending the local queue")
    async def run_dispatch(self) -> None:
        if self.dispatch is not None:
            await self.dispatch.run()

    async def _seeds_like_the_frontend(self, entry: WorkflowEntry, resolved: Any) -> tuple[dict[str, Any], list[str]]:
        """New seeds per ``control_after_generate`` (editor workflows), and a note when ComfyUI
        would answer the prompt from its cache (it ran before, unchanged)."""
        from comfytui.core.queue.submit import frontend_seeds, identical_to

        store = self.services.store
        if store is None:
            return resolved.prompt, []
        last = await store.call(store.latest_from_source, str(entry.path))
        prompt, notes = frontend_seeds(resolved.prompt, resolved.workflow, resolved.object_info, last)
        same = await identical_to(store, self.session.client.url, prompt)
        return prompt, [*(["new seeds: " + "; ".join(notes)] if notes else []), *([same] if same else [])]

    def _alert_job_ends(self, changed: Iterable[str]) -> None:
        """The bell and a desktop notification (``[notify] bell`` / ``desktop``) for a job of
        ours that ended while the user was not looking: terminal unfocused or another screen up."""
        watching = getattr(self, "_alert_watch", None)
        if watching is None:
            watching = self._alert_watch = set()
        for pid in changed:
            job = self.session.book.get(pid)
            if job is None or job.foreign:
                continue
            if not job.state.finished:
                watching.add(pid)
                continue
            if pid not in watching:
                continue
            watching.discard(pid)
            if self.app_focus and self.screen_stack and self.screen is self.dashboard:
                continue
            from comfytui.tui.terminal_notify import job_end_output

            label = job.label or pid[:8]
            output = job_end_output(self.config.notify, str(job.state), "comfytui", f"{label}: {job.state}")
            self.alerts_sent = [*getattr(self, "alerts_sent", []), (pid, str(job.state), output)]
            if output and not self.is_headless and self._driver is not None:
                self._driver.write(output)
                self._driver.flush()

    # Each full screen lives in its own module and is imported when first opened.
    SCREENS_BY_NAME = {
        "server": ("comfytui.tui.screens.server", "ServerScreen"),
        "gpu": ("comfytui.tui.screens.gpu", "GpuScreen"),
        "models": ("comfytui.tui.screens.models", "ModelsScreen"),
    }

    def action_open_screen(self, name: str) -> None:
        import importlib

        if name == "server" and self.lifecycle is None:
            self.notify(
                'comfytui does not manage this ComfyUI (backend = "none"). To start, stop and follow it from here, '
                'set backend = "container" (podman) or "process" (bare metal) in the config; see the README.',
                title="server",
                severity="warning",
                timeout=10,
            )
            return
        module_name, class_name = self.SCREENS_BY_NAME[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            self.notify(f"the {name} screen is not available in this build", severity="warning")
            return
        self.push_screen(getattr(module, class_name)(self.services))

    def action_edit_workflow(self) -> None:
        entry = self.workflow_list.selected()
        if entry is None:
            self.notify("no workflow selected (focus the Workflows pane with 1)", severity="warning")
            return
        try:
            from comfytui.tui.screens.workflow_form import WorkflowFormScreen
        except ModuleNotFoundError:
            self.notify("the parameter form is not available in this build", severity="warning")
            return
        self.push_screen(WorkflowFormScreen(self.services, entry))

    PANE_IDS: ClassVar[tuple[str, ...]] = ("workflows", "queue", "history", "logs", "preview", "devices")

    def action_focus_pane(self, pane_id: str) -> None:
        if not self._panes_ready:  # before the panes are mounted: focused once they are
            self._pending_focus = pane_id
            return
        dashboard = self.dashboard
        widget = dashboard.query_one(f"#{pane_id}")
        target = widget if widget.can_focus else next((w for w in widget.query("*") if w.can_focus), widget)
        pane = self._pane_of(widget)
        if dashboard.maximized is not None and dashboard.maximized is not pane:
            dashboard.minimize()
        target.focus()
        if pane is not None and (not pane.display or pane.region.width == 0 or pane.region.height == 0):
            # The layout had no room for it (80x24 hides the Preview): show it maximized instead.
            dashboard.maximize(pane, container=False)

    def _pane_of(self, widget: Any) -> Any:
        """The dashboard pane (Workflows, Queue, …) that holds ``widget``, or None."""
        for node in (widget, *widget.ancestors):
            if getattr(node, "id", None) in self.PANE_IDS:
                return node
        return None

    def action_toggle_maximize(self) -> None:
        dashboard = self.dashboard
        if dashboard.maximized is not None:
            dashboard.minimize()
            return
        focused = dashboard.focused
        pane = self._pane_of(focused) if focused is not None else None
        if pane is None:
            self.notify("focus a pane first (1-6), then z", severity="warning")
            return
        dashboard.maximize(pane, container=False)

    def action_open_workflow_path(self) -> None:
        from comfytui.tui.screens.open_path import OpenPathScreen

        self.push_screen(OpenPathScreen(), self._open_workflow_file)

    def _open_workflow_file(self, path: Path | None) -> None:
        if path is None:
            return
        from comfytui.tui.screens.workflow_form import WorkflowFormScreen

        entry = WorkflowEntry(path.name, path, "user", 0, 0.0)  # "user": Save as… writes next to it
        self.push_screen(WorkflowFormScreen(self.services, entry))

    def action_copy(self, what: str) -> None:
        """Copy to the terminal's clipboard with OSC 52 (works over SSH and in tmux with set-clipboard on)."""
        text = ""
        if what == "workflow_path":
            entry = self.workflow_list.selected()
            text = str(entry.path) if entry is not None else ""
        elif what in ("prompt_id", "traceback"):
            pid = self.history_table.selected_job_id()
            job = self.session.book.get(pid) if pid else None
            if job is not None and what == "prompt_id":
                text = job.prompt_id
            elif job is not None and job.error is not None:
                error = job.error
                text = "".join(error.traceback) + f"{error.exception_type}: {error.exception_message}"
        if not text:
            self.notify(f"nothing to copy: select a {'workflow' if what == 'workflow_path' else 'job in History'}", severity="warning")
            return
        self.copy_to_clipboard(text)
        first = text.splitlines()[-1] if text.splitlines() else text
        self.notify(f"copied {what.replace('_', ' ')}: {first[:60]}", markup=False)

    async def _reload_workflow_settings(self) -> None:
        """F5: the config file's ``[workflows]`` section again (a new ``dirs`` entry shows at once)."""
        import asyncio
        import dataclasses

        from comfytui.core.config import load_config
        from comfytui.core.errors import ConfigError

        try:
            fresh = await asyncio.to_thread(load_config, self.config_path)
        except ConfigError as exc:
            self.notify(str(exc), title="config not re-read", severity="error", timeout=10, markup=False)
            return
        workflows = self.workflow_list
        if fresh.workflows != workflows.config.workflows:
            workflows.config = dataclasses.replace(workflows.config, workflows=fresh.workflows)
            self.notify("workflow folders re-read from the config file")

    @work(exclusive=True, group="refresh", exit_on_error=False, description="refreshing")
    async def action_refresh_all(self) -> None:
        await self._reload_workflow_settings()
        self.workflow_list.reload()
        if self.session.connection.state != "connected":
            self.session.reconnect_now()
            self.notify("reconnecting now")
            return
        await self.session.resync()
        self.services.stats_poller.poke()

    def action_help(self) -> None:
        from comfytui.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_groups()))

    def help_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        def rows(bindings: Iterable[Binding | tuple[str, ...]]) -> list[tuple[str, str]]:
            found = []
            for b in bindings:
                if isinstance(b, tuple):
                    b = Binding(*b)
                if b.description:
                    found.append((b.key, b.tooltip or b.description))
            return found

        groups = []
        if self.screen is not self.dashboard:
            title = getattr(self.screen, "HELP_TITLE", None) or type(self.screen).__name__.removesuffix("Screen")
            groups.append((f"{title} screen", rows(self.screen.BINDINGS)))
            for widget in self.screen.query("*"):
                if widget.BINDINGS and widget.can_focus:
                    groups.append((f"{title}: {type(widget).__name__}", rows(widget.BINDINGS)))
            groups.append(("Everywhere", rows(b for b in self.BINDINGS if b.key in ("question_mark", "q", "ctrl+p"))))
            return groups
        from comfytui.tui.widgets.history_pane import HistoryTable
        from comfytui.tui.widgets.queue_pane import QueuePane
        from comfytui.tui.widgets.workflows_pane import WorkflowList

        groups.append(("Everywhere", rows(self.BINDINGS)))
        groups.append(("Workflows pane", rows(WorkflowList.BINDINGS)))
        groups.append(("Queue pane", rows(QueuePane.BINDINGS)))
        groups.append(("History pane", rows(HistoryTable.BINDINGS)))
        groups.append(("Logs pane", rows(LogPane.BINDINGS)))
        groups.append(
            (
                "Moving around",
                [
                    ("tab", "next pane (shift+tab: previous)"),
                    ("up,down", "move in lists and tables"),
                    ("ctrl+p", "command palette: every action by name"),
                ],
            )
        )
        return groups

    # -- command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.dashboard:
            # The dashboard's actions act on the dashboard: not from another screen.
            yield SystemCommand("help: keys of this screen", "List this screen's keys (?)", self.action_help)
            return
        yield SystemCommand("queue: run selected workflow", "Queue the workflow selected in the Workflows pane", self.action_queue_selected)
        yield SystemCommand("queue: run selected workflow at the front", "Queue it ahead of pending jobs", lambda: self.action_queue_selected(True))
        yield SystemCommand("queue: cancel selected job", "Remove the selected pending job", self.action_cancel_job)
        yield SystemCommand("queue: interrupt running job", "Stop the job that is running now", self.action_interrupt)
        yield SystemCommand("queue: clear pending", "Remove every pending job (asks first)", self.action_clear_pending)
        yield SystemCommand("server: refresh", "Re-read queue, history and devices", self.action_refresh_all)
        for name, member in self.servers if len(self.servers) > 1 else ():
            if name != self.server_name:
                yield SystemCommand(f"server: switch to {name}", f"Make {member.server.url} the current server (ctrl+n: next)", lambda n=name: self.switch_server(n))
        yield SystemCommand("server: open the Server screen", "Container or process: start, stop, phases, pull", lambda: self.action_open_screen("server"))
        yield SystemCommand("gpu: open the GPU screen", "GPUs, VRAM, processes, free memory", lambda: self.action_open_screen("gpu"))
        yield SystemCommand("models: open the model browser", "Sizes, dates, metadata, sha256", lambda: self.action_open_screen("models"))
        yield SystemCommand("workflow: edit and queue the selected workflow", "The parameter form", self.action_edit_workflow)
        yield SystemCommand("logs: filter", "Show only log lines containing a text", lambda: self.dashboard.query_one(LogPane).action_open_filter())
        yield SystemCommand("logs: toggle follow", "Pause or resume auto-scroll", lambda: self.dashboard.query_one(LogPane).action_toggle_follow())
        yield SystemCommand("help: keys", "List every key binding (?)", self.action_help)
        yield SystemCommand("workflow: open a file by path (o)", "Load any workflow file into the form", self.action_open_workflow_path)
        yield SystemCommand("workflows: reload folders and config (F5)", "Re-read the workflow folders and the config's [workflows] section", self.action_refresh_all)
        yield SystemCommand("pane: maximize or restore the focused pane (z)", "Preview, Logs, History, Queue… full screen", self.action_toggle_maximize)
        for key, (name, pane_id) in enumerate(
            (("workflows", "workflows"), ("queue", "queue-table"), ("history", "history-table"), ("logs", "logs"), ("preview", "preview"), ("devices", "devices")),
            start=1,
        ):
            yield SystemCommand(f"{name}: go to the {name.capitalize()} pane ({key})", f"Focus the {name} pane", lambda p=pane_id: self.action_focus_pane(p))
        queue = self.queue_pane
        history = self.history_table
        for title, help_text, callback in (
            ("queue: pause queue (p)", "Send nothing new; the running job finishes", queue.action_toggle_pause),
            ("queue: resume queue (p)", "Send the local queue again", queue.action_toggle_pause),
            ("queue: hold or release the selected job (h)", "Keep a local job back / let it go", queue.action_toggle_hold),
            ("queue: move the selected job up (K)", "Reorder the local queue", lambda: queue.action_move("up")),
            ("queue: move the selected job down (J)", "Reorder the local queue", lambda: queue.action_move("down")),
            ("queue: move the selected job to the top (t)", "Reorder the local queue", lambda: queue.action_move("top")),
            ("queue: move the selected job to the bottom (b)", "Reorder the local queue", lambda: queue.action_move("bottom")),
            ("queue: raise priority of the selected job (+)", "low, normal, high", lambda: queue.action_priority(1)),
            ("queue: lower priority of the selected job (-)", "high, normal, low", lambda: queue.action_priority(-1)),
            ("queue: cancel the selected job (c)", "Local: removed; pending: deleted on the server; running: interrupted (asks)", queue.action_cancel),
            ("queue: clear held, local or all jobs (C)", "Asks which", queue.action_clear),
            ("queue: edit the selected held job (e)", "The parameter form, prefilled", queue.action_edit_held),
            ("queue: requeue lost jobs (L)", "Jobs lost in a server restart go back in the local queue", queue.action_requeue_lost),
            ("history: requeue the selected job (R)", "As it was; new seeds when its workflow randomizes them", history.action_requeue),
            ("history: edit and requeue the selected job (E)", "The parameter form, prefilled", history.action_edit_requeue),
            ("history: filter (/)", "Text, status:S, server:S, since:2h", history.action_filter),
            ("history: cycle the status shown (f)", "all, success, error, interrupted, cancelled, lost", history.action_cycle_status),
            ("history: sort (S)", "newest, oldest, longest, status, label", history.action_cycle_sort),
        ):
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand("queue: move or requeue a job: open History (3), then Enter", "The job screen", lambda: self.action_focus_pane("history-table"))
        yield SystemCommand("history: open the selected job (download outputs)", "Outputs, errors, download", lambda: self.history_table.action_open_job())
        yield SystemCommand("logs: pause or resume following", "Stop auto-scroll to read (f)", lambda: self.dashboard.query_one(LogPane).action_toggle_follow())
        yield SystemCommand("logs: toggle timestamps (t)", "Show each line's time", lambda: self.dashboard.query_one(LogPane).action_toggle_timestamps())
        yield SystemCommand("logs: toggle wrapping (w)", "Wrap long lines or cut them", lambda: self.dashboard.query_one(LogPane).action_toggle_wrap())
        yield SystemCommand("copy: prompt id of the selected History job", "OSC 52: works over SSH", lambda: self.action_copy("prompt_id"))
        yield SystemCommand("copy: traceback of the selected History job", "OSC 52: works over SSH", lambda: self.action_copy("traceback"))
        yield SystemCommand("copy: path of the selected workflow", "OSC 52: works over SSH", lambda: self.action_copy("workflow_path"))

    async def action_quit(self) -> None:
        unsaved = getattr(self.screen, "has_unsaved_edits", None)
        if callable(unsaved) and unsaved():
            from comfytui.tui.screens.confirm import ConfirmScreen

            self.push_screen(
                ConfirmScreen("Quit comfytui and lose your edits?", "Esc / n goes back to the form."),
                lambda yes: self._quit_now() if yes else None,
            )
            return
        self._quit_now()

    def _quit_now(self) -> None:
        self._exit_renders = True
        self.exit(0)

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "dispatch")  # the dispatcher lets go of its lock first
        await self.services.stats_poller.stop()
        await self.session.aclose()
        if self.lifecycle is not None:
            await self.lifecycle.aclose()
        await self.services.gpu_feed.stop()  # NVML shutdown runs in a thread
