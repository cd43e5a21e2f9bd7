"""ComfyTuiApp: the dashboard. It owns the long-lived workers (the ComfyUI session, the device
poll) so they survive screen changes, renders the session's state, and turns keys into intents.

The session calls our listener on the event loop for every change; the listener only records
what changed and posts one coalesced ``SessionChanged`` message, so a flood of progress events
costs one render per message-loop turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from comfytui.core.comfy import events as ev
from comfytui.core.comfy.jobs import JobState
from comfytui.core.comfy.session import ComfySession, SessionUpdate
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.workflows.library import WorkflowEntry, list_workflows
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.screens.help import HelpScreen
from comfytui.tui.screens.job import JobScreen
from comfytui.tui.theme import register_themes
from comfytui.tui.widgets.devices_pane import DevicesPane
from comfytui.tui.widgets.history_pane import HistoryTable
from comfytui.tui.widgets.log_pane import LogPane
from comfytui.tui.widgets.preview_pane import PreviewPane
from comfytui.tui.widgets.queue_pane import QueuePane
from comfytui.tui.widgets.status_line import StatusLine
from comfytui.tui.widgets.workflows_pane import WorkflowList

DEVICE_POLL_S = 3.0


class SessionChanged(Message):
    """Something in the session changed; the handler renders everything that is dirty."""


class ComfyTuiApp(App[int]):
    CSS_PATH = "comfytui.tcss"
    TITLE = "comfytui"
    ENABLE_COMMAND_PALETTE = True
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
        Binding("3", "focus_pane('history')", "History", show=False, id="focus.history"),
        Binding("4", "focus_pane('logs')", "Logs", show=False, id="focus.logs"),
        Binding("5", "focus_pane('preview')", "Preview", show=False, id="focus.preview"),
        Binding("6", "focus_pane('devices')", "Devices", show=False, id="focus.devices"),
        Binding("f5,ctrl+r", "refresh_all", "Refresh", show=False, id="app.refresh", tooltip="Re-read the server now (reconnect at once when it is down)"),
    ]

    def __init__(self, config: Config, *, readonly: bool = False, session: ComfySession | None = None) -> None:
        super().__init__()
        self.config = config
        self.readonly = readonly
        self.session = session or ComfySession(config, role="dashboard", follow_logs=True)
        self._dirty_jobs: set[str] = set()
        self._dirty_connection = True
        self._pending_logs: list[tuple[str, str]] = []
        self._preview_dirty = False
        self._posted = False
        self.frames_seen = 0
        self.lifecycle = self._make_lifecycle(config)
        self._exit_renders = False
        self._service_line: str | None = None

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
        yield StatusLine(id="status-line")
        with Horizontal(id="top-row"):
            yield WorkflowList(id="workflows")
            yield QueuePane(id="queue")
            yield PreviewPane(self.config.ui.image_protocol, self.config.ui.preview_max_fps, id="preview")
        with Horizontal(id="middle-row"):
            yield HistoryTable(id="history")
            with Vertical(id="side"):
                yield DevicesPane(id="devices")
        yield LogPane(self.config.ui.log_lines, id="logs")
        yield Footer()

    def on_resize(self, event: Any) -> None:
        self._fit_layout(event.size.width, event.size.height)

    def _fit_layout(self, width: int, height: int) -> None:
        screen = self.dashboard
        screen.set_class(width < 110, "-narrow")
        screen.set_class(width < 90, "-very-narrow")
        screen.set_class(height < 30, "-short")

    def on_mount(self) -> None:
        self._fit_layout(self.size.width, self.size.height)
        register_themes(self)
        if self.config.ui.theme in self.available_themes:
            self.theme = self.config.ui.theme
        self.dashboard.query_one(WorkflowList).show(list_workflows(self.config))
        self.session.add_listener(self._on_session_update)
        self._render_all()
        self.run_session()
        if self.lifecycle is not None:
            self.lifecycle.add_listener(self._on_lifecycle_update)
            self.dashboard.query_one(LogPane).equivalent_command = self.lifecycle.equivalent_logs_command()
            self.watch_service()
            self.follow_service_logs()
        self.set_interval(DEVICE_POLL_S, self.poll_devices)
        self.set_interval(1.0, self._tick)
        self.dashboard.query_one(WorkflowList).focus()

    @property
    def dashboard(self) -> Screen[Any]:
        """The dashboard screen (the bottom of the stack), whatever screen is on top of it."""
        return self.screen_stack[0]

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

    def _on_lifecycle_update(self, update: Any) -> None:
        if not self._can_render():
            return
        try:
            self._show_lifecycle_update(update)
        except NoMatches:
            pass  # shutting down

    def _show_lifecycle_update(self, update: Any) -> None:
        if update.kind == "log":
            line = update.payload
            self.dashboard.query_one(LogPane).add(self.lifecycle.kind, [(str(line.time or ""), line.text + "\n")])
            return
        if update.kind == "status" and self.lifecycle.kind == "process" and getattr(update.payload, "pid", None):
            # NVML lists host PIDs: tell the sampler which one is the ComfyUI we run.
            from comfytui.tui.widgets.gpu_panel import gpu_feed

            gpu_feed(self).sampler.set_comfyui_pids([update.payload.pid])
        if update.kind in ("status", "phase", "busy", "error"):
            self._service_line = self._describe_service()
            self._render_connection()
        if update.kind == "error" and update.payload:
            self.notify(str(update.payload), title="server", severity="error", timeout=10)

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

    @work(exclusive=True, group="devices", exit_on_error=False, description="polling /system_stats")
    async def poll_devices(self) -> None:
        if self.session.connection.state != "connected":
            return
        try:
            self.session.system_stats = await self.session.client.system_stats()
        except ComfyTuiError:
            return
        if self._can_render():
            self.dashboard.query_one(DevicesPane).show(self.session.system_stats)

    # -- session -> UI

    def _on_session_update(self, update: SessionUpdate) -> None:
        event = update.event
        self._dirty_jobs |= update.changed
        if isinstance(event, ev.Connected | ev.Disconnected | ev.Status):
            self._dirty_connection = True
        elif isinstance(event, ev.PreviewImage):
            self._preview_dirty = True
            self.frames_seen += 1
        elif isinstance(event, ev.LogEntries):
            self._pending_logs.extend((e.time, e.message) for e in event.entries)
        if not self._posted:
            self._posted = True
            self.post_message(SessionChanged())

    def on_session_changed(self, _message: SessionChanged) -> None:
        self._posted = False
        if not self._can_render():
            return
        try:
            self._render_dirty()
        except NoMatches:
            pass  # the app is shutting down and its widgets are gone

    def _render_dirty(self) -> None:
        if self._dirty_connection:
            self._dirty_connection = False
            self._render_connection()
        if self._dirty_jobs:
            self._dirty_jobs.clear()
            self._render_jobs()
        if self._preview_dirty:
            self._preview_dirty = False
            self._render_preview()
        if self._pending_logs:
            logs, self._pending_logs = self._pending_logs, []
            self.dashboard.query_one(LogPane).add("comfyui", logs)

    def _render_all(self) -> None:
        self._render_connection()
        self._render_jobs()

    def _render_connection(self) -> None:
        self.dashboard.query_one(StatusLine).show(
            self.session.connection,
            self.session.book.queue_remaining,
            self.session.client_id,
            self.readonly,
            service=self._service_line,
        )
        if self.session.connection.state == "connected" and self.session.system_stats:
            self.dashboard.query_one(DevicesPane).show(self.session.system_stats)

    def _render_jobs(self) -> None:
        self.dashboard.query_one(QueuePane).show(self.session.book)
        self.dashboard.query_one(HistoryTable).show(self.session.book, self.config.ui.history_items)

    def _render_preview(self) -> None:
        frame = self.session.latest_preview
        if frame is None:
            return
        job = self.session.book.get(self.session.preview_job or "") if self.session.preview_job else None
        caption = f"{job.prompt_id[:8]} node {frame.node_id or job.node or '?'}" if job else "preview"
        if job and job.steps:
            caption += f" · step {job.step}/{job.steps}"
        self.dashboard.query_one(PreviewPane).offer(frame.image, caption)

    def _tick(self) -> None:
        # elapsed time of the running job moves even without events
        if self.session.book.running_id and self._can_render():
            self.dashboard.query_one(QueuePane).show(self.session.book)

    # -- intents

    def _refuse_readonly(self) -> bool:
        if self.readonly:
            self.notify("read-only mode: this would change the server", severity="warning")
        return self.readonly

    def action_queue_selected(self, front: bool = False) -> None:
        entry = self.dashboard.query_one(WorkflowList).selected()
        if entry is None:
            self.notify("no workflow selected (focus the Workflows pane with 1)", severity="warning")
            return
        self.queue_workflow(entry, front)

    def on_workflow_list_queue_requested(self, message: WorkflowList.QueueRequested) -> None:
        self.queue_workflow(message.entry, message.front)

    @work(group="submit", exit_on_error=False, description="queueing a workflow")
    async def queue_workflow(self, entry: WorkflowEntry, front: bool = False) -> None:
        if self._refuse_readonly():
            return
        from comfytui.core.workflows.preflight import preflight_prompt
        from comfytui.core.workflows.prompts import resolve_prompt

        try:
            resolved = await resolve_prompt(Path(entry.path), self.session.client)
            preflight_prompt(resolved.prompt, resolved.object_info, source=entry.name)
            job = await self.session.submit(resolved.prompt, label=entry.name, workflow=resolved.workflow, front=front)
        except ComfyTuiError as exc:
            self.notify(str(exc), title=f"cannot queue {entry.name}", severity="error", timeout=12)
            return
        for warning in resolved.warnings:
            self.notify(warning, severity="warning")
        self.notify(f"queued {entry.name} ({job.prompt_id[:8]})" + (" at the front" if front else ""))

    def action_cancel_job(self) -> None:
        pid = self.dashboard.query_one(QueuePane).selected_job_id()
        if pid is None:
            self.notify("no job selected in the Queue pane", severity="warning")
            return
        job = self.session.book.get(pid)
        if job is not None and job.state == JobState.RUNNING:
            self.action_interrupt()
            return
        self.cancel_job(pid)

    @work(group="cancel", exit_on_error=False, description="cancelling a job")
    async def cancel_job(self, prompt_id: str) -> None:
        if self._refuse_readonly():
            return
        try:
            what = await self.session.cancel(prompt_id)
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"{what} {prompt_id[:8]}")

    @work(group="interrupt", exit_on_error=False, description="interrupting the running job")
    async def action_interrupt(self) -> None:
        if self._refuse_readonly():
            return
        running = self.session.book.running_id
        if running is None:
            self.notify("nothing is running", severity="warning")
            return
        job = self.session.book.get(running)
        label = job.label if job and job.label else running[:8]
        if not await self.push_screen_wait(ConfirmScreen(f"Interrupt the running job {label}?", "Its progress is lost.")):
            return
        try:
            await self.session.interrupt(running)
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"interrupt sent to {label}")

    @work(group="clear", exit_on_error=False, description="clearing pending jobs")
    async def action_clear_pending(self) -> None:
        if self._refuse_readonly():
            return
        pending = [j for j in self.session.book.active() if j.state == JobState.PENDING]
        if not pending:
            self.notify("no pending jobs", severity="warning")
            return
        if not await self.push_screen_wait(
            ConfirmScreen(f"Remove all {len(pending)} pending jobs?", "Jobs of other clients are removed too.")
        ):
            return
        try:
            await self.session.clear_pending()
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"cleared {len(pending)} pending jobs")

    def on_history_table_open_job(self, message: HistoryTable.OpenJob) -> None:
        job = self.session.book.get(message.prompt_id)
        if job is not None:
            self.push_screen(JobScreen(self.session, job, self.config.ui.image_protocol))

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
        self.push_screen(getattr(module, class_name)(self))

    def action_edit_workflow(self) -> None:
        entry = self.dashboard.query_one(WorkflowList).selected()
        if entry is None:
            self.notify("no workflow selected (focus the Workflows pane with 1)", severity="warning")
            return
        try:
            from comfytui.tui.screens.workflow_form import WorkflowFormScreen
        except ModuleNotFoundError:
            self.notify("the parameter form is not available in this build", severity="warning")
            return
        self.push_screen(WorkflowFormScreen(self, entry))

    def action_focus_pane(self, pane_id: str) -> None:
        widget = self.dashboard.query_one(f"#{pane_id}")
        target = widget if widget.can_focus else next((w for w in widget.query("*") if w.can_focus), widget)
        target.focus()

    @work(exclusive=True, group="refresh", exit_on_error=False, description="refreshing")
    async def action_refresh_all(self) -> None:
        self.dashboard.query_one(WorkflowList).show(list_workflows(self.config))
        if self.session.connection.state != "connected":
            self.session.reconnect_now()
            self.notify("reconnecting now")
            return
        await self.session.resync()
        self.poll_devices()

    def action_help(self) -> None:
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
        groups.append(("Everywhere", rows(self.BINDINGS)))
        groups.append(("Workflows pane", rows(WorkflowList.BINDINGS)))
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
        yield SystemCommand("queue: run selected workflow", "Queue the workflow selected in the Workflows pane", self.action_queue_selected)
        yield SystemCommand("queue: run selected workflow at the front", "Queue it ahead of pending jobs", lambda: self.action_queue_selected(True))
        yield SystemCommand("queue: cancel selected job", "Remove the selected pending job", self.action_cancel_job)
        yield SystemCommand("queue: interrupt running job", "Stop the job that is running now", self.action_interrupt)
        yield SystemCommand("queue: clear pending", "Remove every pending job (asks first)", self.action_clear_pending)
        yield SystemCommand("server: refresh", "Re-read queue, history and devices", self.action_refresh_all)
        yield SystemCommand("server: open the Server screen", "Container or process: start, stop, phases, pull", lambda: self.action_open_screen("server"))
        yield SystemCommand("gpu: open the GPU screen", "GPUs, VRAM, processes, free memory", lambda: self.action_open_screen("gpu"))
        yield SystemCommand("models: open the model browser", "Sizes, dates, metadata, sha256", lambda: self.action_open_screen("models"))
        yield SystemCommand("workflow: edit and queue the selected workflow", "The parameter form", self.action_edit_workflow)
        yield SystemCommand("logs: filter", "Show only log lines containing a text", lambda: self.dashboard.query_one(LogPane).action_open_filter())
        yield SystemCommand("logs: toggle follow", "Pause or resume auto-scroll", lambda: self.dashboard.query_one(LogPane).action_toggle_follow())
        yield SystemCommand("help: keys", "List every key binding", self.action_help)

    async def action_quit(self) -> None:
        self._exit_renders = True
        self.exit(0)

    async def on_unmount(self) -> None:
        await self.session.aclose()
        if self.lifecycle is not None:
            await self.lifecycle.aclose()
