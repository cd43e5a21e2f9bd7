"""The Queue pane: the running job with step and node progress, then one list in run order: the
running job, the jobs pending on the server (ours and other clients'), then comfytui's local
queue (docs/QUEUE.md) by priority and position, held jobs in their place.

Its keys change the local queue through ``core.queue.ops`` (the same functions as ``comfytui
queue``): pause/resume, hold/release, move, priority, cancel, clear, edit a held job, requeue
lost jobs. Jobs of other clients (foreign) can be cancelled, never reordered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, ProgressBar, Static

from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.core.errors import ComfyTuiError
from comfytui.core.store.db import LOCAL, PRIORITY_NAMES, StoredJob
from comfytui.tui.format import STATE_GLYPHS, duration, job_label
from comfytui.tui.widgets.tables import SyncedTable, selected_key, sync_rows

if TYPE_CHECKING:
    from comfytui.tui.services import Services

PRIORITY_ORDER = ("low", "normal", "high")
PRIORITY_MARKS = {"high": "▲", "normal": "", "low": "▼"}
ROW_STYLES = {"running": "bold", "pending": "", "local": "cyan", "held": "yellow", "foreign": "italic yellow"}


def job_cell(job: Job) -> Text:
    """The job's label, with its batch name (dim) when it was queued as part of a batch."""
    text = Text(job_label(job))
    if job.batch and job.batch != job.label:
        text.append(f" · {job.batch}", style="dim")
    return text


def stored_cell(job: StoredJob) -> Text:
    text = Text(job.label or job.id[:8])
    if job.batch and job.batch != job.label:
        text.append(f" · {job.batch}", style="dim")
    return text


@dataclass(frozen=True)
class QueueRow:
    """One line of the run order."""

    id: str
    kind: str
    """``running``, ``pending`` (ours on the server), ``foreign``, ``local`` or ``held``."""
    position: int
    label: Text
    priority: str = ""
    since: float | None = None
    cached: bool = False

    @property
    def local(self) -> bool:
        return self.kind in ("local", "held")

    def cells(self, now: float) -> tuple[Text, str, Text, str, Text, str]:
        glyph = {"running": STATE_GLYPHS[JobState.RUNNING], "held": "‖", "local": "·"}.get(self.kind, STATE_GLYPHS[JobState.PENDING])
        state = Text(self.kind, style=ROW_STYLES.get(self.kind, ""))
        if self.cached:
            state.append(" cached", style="dim")
        waiting = duration(now - self.since) if self.since and self.kind != "running" else ""
        position = "run" if self.kind == "running" else str(self.position)
        return Text(glyph, style=ROW_STYLES.get(self.kind, "")), position, state, PRIORITY_MARKS.get(self.priority, ""), self.label, waiting


def run_order(book: JobBook, local: list[StoredJob]) -> list[QueueRow]:
    """The server's part from the job book (live), then the local queue from the store."""
    rows: list[QueueRow] = []
    active = book.active()
    for job in active:
        if job.state == JobState.RUNNING:
            kind = "running"
        else:
            kind = "foreign" if job.foreign else "pending"
        rows.append(QueueRow(job.prompt_id, kind, len(rows), job_cell(job), since=job.created_at, cached=job.fully_cached))
    on_server = {j.prompt_id for j in active}
    for stored in local:
        if stored.state != LOCAL or stored.id in on_server or book.get(stored.id) is not None:
            continue  # just sent: the book has it already
        rows.append(
            QueueRow(stored.id, "held" if stored.held else "local", len(rows), stored_cell(stored),
                     PRIORITY_NAMES.get(stored.priority, "normal"), stored.created_at)
        )
    # positions count from 1 for everything that waits; the running job says "run"
    start = 0 if rows and rows[0].kind == "running" else 1
    return [QueueRow(r.id, r.kind, i + start, r.label, r.priority, r.since, r.cached) for i, r in enumerate(rows)]


class QueuePane(Vertical):
    DEFAULT_CSS = """
    QueuePane { border: round $primary 60%; border-title-color: $text; padding: 0 1; }
    QueuePane:focus-within { border: round $accent; }
    QueuePane #running { height: 2; }
    QueuePane .bar-row { height: 1; }
    QueuePane .bar-label { width: 6; color: $text-muted; }
    QueuePane ProgressBar { width: 1fr; }
    QueuePane ProgressBar Bar { width: 1fr; }
    QueuePane .bar-info { width: 24; padding-left: 1; }
    QueuePane #queue-banner { height: 1; color: $text-muted; }
    QueuePane #queue-banner.-paused { color: $warning; text-style: bold; }
    QueuePane DataTable { height: 1fr;  scrollbar-size-horizontal: 0; }
    """
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume", id="queue.pause", tooltip="Pause or resume the local queue (nothing new is sent)"),
        Binding("h", "toggle_hold", "Hold", id="queue.hold", tooltip="Hold or release the selected local job"),
        Binding("K,shift+up", "move('up')", "Up", id="queue.up", show=False, tooltip="Move the selected local job up"),
        Binding("J,shift+down", "move('down')", "Down", id="queue.down", show=False, tooltip="Move the selected local job down"),
        Binding("t", "move('top')", "Top", id="queue.top", show=False, tooltip="Move the selected local job to the top"),
        Binding("b", "move('bottom')", "Bottom", id="queue.bottom", show=False, tooltip="Move the selected local job to the bottom"),
        Binding("plus", "priority(1)", "Priority+", id="queue.priority_up", show=False, tooltip="Raise the selected job's priority (low, normal, high)"),
        Binding("minus", "priority(-1)", "Priority-", id="queue.priority_down", show=False, tooltip="Lower the selected job's priority"),
        Binding("c", "cancel", "Cancel", id="queue.cancel_selected", tooltip="Cancel the selected job (running: asks, then interrupts)"),
        Binding("C", "clear", "Clear…", id="queue.clear_menu", show=False, tooltip="Clear held, local or all jobs (asks)"),
        Binding("e", "edit_held", "Edit", id="queue.edit", show=False, tooltip="Edit a held job's parameters and queue it in its place"),
        Binding("L", "requeue_lost", "Requeue lost", id="queue.requeue_lost", show=False, tooltip="Queue every lost job again"),
    ]

    def __init__(self, services: Services | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.local: list[StoredJob] = []
        self.paused = False
        self.dispatch_line = ""
        self.rows: list[QueueRow] = []
        self._book: JobBook | None = None

    def compose(self) -> ComposeResult:
        yield Static("idle", id="running")
        with Horizontal(classes="bar-row"):
            yield Label("steps", classes="bar-label")
            yield ProgressBar(id="steps-bar", show_eta=False, show_percentage=False)
            yield Static("", id="steps-info", classes="bar-info")
        with Horizontal(classes="bar-row"):
            yield Label("nodes", classes="bar-label")
            yield ProgressBar(id="nodes-bar", show_eta=False, show_percentage=False)
            yield Static("", id="nodes-info", classes="bar-info")
        yield Static("", id="queue-banner")
        table: DataTable[str | Text] = SyncedTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("", "#", "state", "pri", "job", "waiting")
        yield table

    def on_mount(self) -> None:
        self.border_title = "Queue [2]"
        if self.services is not None and self.services.store is not None:
            self.refresh_local()
            self.set_interval(1.0, self.refresh_local)  # other processes change the queue too

    @property
    def table(self) -> DataTable:
        return self.query_one("#queue-table", DataTable)

    def selected_job_id(self) -> str | None:
        return selected_key(self.table)

    def selected_row(self) -> QueueRow | None:
        key = self.selected_job_id()
        return next((r for r in self.rows if r.id == key), None)

    # -- rendering

    def show(self, book: JobBook) -> None:
        self._book = book
        active = book.active()
        running = next((j for j in active if j.state == JobState.RUNNING), None)
        self._show_running(running)
        self.rows = run_order(book, self.local)
        now = time.time()
        sync_rows(self.table, [r.id for r in self.rows], {r.id: r.cells(now) for r in self.rows})
        pending = sum(1 for r in self.rows if r.kind in ("pending", "foreign"))
        local = sum(1 for r in self.rows if r.local)
        title = f"Queue [2] · {'1 running' if running else 'idle'} · {pending} pending"
        if local:
            title += f" · {local} local"
        self.border_title = title
        banner = self.query_one("#queue-banner", Static)
        line = Text()
        if self.paused:
            line.append("⏸ queue paused (p resumes)", style="bold")
            if self.dispatch_line:
                line.append(" · ")
        line.append(self.dispatch_line)
        banner.update(line)
        banner.set_class(self.paused, "-paused")

    def set_dispatch_line(self, line: str) -> None:
        self.dispatch_line = line
        if self._book is not None:
            self.show(self._book)

    @work(exclusive=True, group="queue-local", exit_on_error=False, description="reading the local queue")
    async def refresh_local(self) -> None:
        from comfytui.core.queue import ops

        services = self.services
        if services is None or services.store is None:
            return
        try:
            status = await ops.status(services.store, services.session.client.url)
        except Exception:  # noqa: BLE001 - a busy or broken store must not take the pane down
            return
        local = [j for j in status.jobs if j.state == LOCAL]
        if local == self.local and status.paused == self.paused and self._book is not None:
            return  # the once-a-second poll found nothing new: no render, no repaint
        self.local = local
        self.paused = status.paused
        self.show(self._book or services.session.book)

    def _show_running(self, job: Job | None) -> None:
        steps_bar = self.query_one("#steps-bar", ProgressBar)
        nodes_bar = self.query_one("#nodes-bar", ProgressBar)
        if job is None:
            self.query_one("#running", Static).update(Text("idle: nothing running", style="dim"))
            steps_bar.update(total=1, progress=0)
            nodes_bar.update(total=1, progress=0)
            self.query_one("#steps-info", Static).update("")
            self.query_one("#nodes-info", Static).update("")
            return
        title = Text()
        title.append("▶ ", style="bold")
        title.append(job_label(job), style="bold")
        if job.batch:
            title.append(f"  batch {job.batch}", style="dim")
        if job.foreign:
            title.append("  foreign", style="italic yellow")
        node = job.node_title or job.node_class or job.node
        elapsed = time.time() - job.started_at if job.started_at else None
        line2 = Text(f"node {job.node}: {node}" if node else "starting…", style="dim")
        if elapsed is not None:
            line2.append(f" · {duration(elapsed)} elapsed")
        title.append("\n")
        title.append_text(line2)
        self.query_one("#running", Static).update(title)
        if job.steps:
            steps_bar.update(total=job.steps, progress=job.step)
            info = f"{job.step}/{job.steps}"
            if job.rate:
                info += f" {job.rate:.1f} it/s"
            if job.eta_s is not None:
                info += f" ETA {duration(job.eta_s)}"
        else:
            steps_bar.update(total=None if job.node else 1, progress=0)
            info = ""
        self.query_one("#steps-info", Static).update(info)
        total = max(job.nodes_total, job.nodes_done, 1)
        nodes_bar.update(total=total, progress=job.nodes_done)
        self.query_one("#nodes-info", Static).update(f"{job.nodes_done}/{total}")

    # -- intents

    def _ready(self) -> Services | None:
        """The services when the queue can be changed (a store, not read-only); else says why."""
        services = self.services
        if services is None or services.store is None:
            self.notify("the job store is not available: the local queue cannot be changed", severity="warning")
            return None
        if services.readonly:
            from comfytui.tui.services import READ_ONLY_MESSAGE

            self.notify(READ_ONLY_MESSAGE, severity="warning")
            return None
        return services

    def _local_row(self, what: str) -> QueueRow | None:
        """The selected row when it is a local job; else tells why ``what`` cannot be done."""
        row = self.selected_row()
        if row is None:
            self.notify("no job selected in the Queue pane", severity="warning")
            return None
        if row.kind == "foreign":
            self.notify(f"job {row.id[:8]} belongs to another client: it can be cancelled, never {what}", severity="warning")
            return None
        if not row.local:
            self.notify(f"job {row.id[:8]} is {row.kind} on the server: only jobs in the local queue can be {what}", severity="warning")
            return None
        return row

    async def _run(self, operation: Any, done: str | None = None) -> Any:
        try:
            result = await operation
        except ComfyTuiError as exc:
            self.notify(str(exc), severity="warning")
            return None
        if done:
            self.notify(done)
        self.refresh_local()
        return result

    @work(group="queue-ops", exit_on_error=False, description="pausing or resuming the queue")
    async def action_toggle_pause(self) -> None:
        from comfytui.core.queue import ops

        services = self._ready()
        if services is None or services.store is None:
            return
        server = services.session.client.url
        paused = await services.store.call(services.store.paused, server)
        await self._run((ops.resume if paused else ops.pause)(services.store, server),
                        "queue resumed" if paused else "queue paused: nothing new is sent; the running job finishes")

    @work(group="queue-ops", exit_on_error=False, description="holding a job")
    async def action_toggle_hold(self) -> None:
        from comfytui.core.queue import ops

        services = self._ready()
        row = self._local_row("held") if services else None
        if services is None or services.store is None or row is None:
            return
        if row.kind == "held":
            await self._run(ops.release(services.store, row.id), f"released {row.label.plain}")
        else:
            await self._run(ops.hold(services.store, row.id), f"held {row.label.plain}")

    @work(group="queue-ops", exit_on_error=False, description="moving a job")
    async def action_move(self, where: str) -> None:
        from comfytui.core.queue import ops

        services = self._ready()
        row = self._local_row("reordered") if services else None
        if services is None or services.store is None or row is None:
            return
        if await self._run(ops.move(services.store, row.id, where)) is not None:
            self.refresh_local()

    @work(group="queue-ops", exit_on_error=False, description="changing a job's priority")
    async def action_priority(self, step: int) -> None:
        from comfytui.core.queue import ops

        services = self._ready()
        row = self._local_row("reprioritised") if services else None
        if services is None or services.store is None or row is None:
            return
        index = PRIORITY_ORDER.index(row.priority or "normal")
        level = PRIORITY_ORDER[max(0, min(len(PRIORITY_ORDER) - 1, index + step))]
        if level == row.priority:
            self.notify(f"{row.label.plain} is already at {level} priority")
            return
        await self._run(ops.set_priority(services.store, row.id, level), f"{row.label.plain}: {level} priority")

    @work(group="queue-ops", exit_on_error=False, description="cancelling a job")
    async def action_cancel(self) -> None:
        from comfytui.core.queue import ops
        from comfytui.tui.screens.confirm import ConfirmScreen

        row = self.selected_row()
        services = self.services
        if row is None or services is None:
            self.notify("no job selected in the Queue pane", severity="warning")
            return
        if services.readonly:
            from comfytui.tui.services import READ_ONLY_MESSAGE

            self.notify(READ_ONLY_MESSAGE, severity="warning")
            return
        label = row.label.plain
        if row.kind == "running":
            if not await self.app.push_screen_wait(ConfirmScreen(f"Interrupt the running job {label}?", "Its progress is lost.")):
                return
            await self._run(services.session.interrupt(row.id), f"interrupt sent to {label}")
        elif row.local and services.store is not None:
            await self._run(ops.cancel(services.store, services.session.client, row.id), f"cancelled {label}")
        else:
            what = await self._run(services.session.cancel(row.id))
            if what:
                self.notify(f"{what} {row.id[:8]}")

    @work(group="queue-ops", exit_on_error=False, description="clearing the queue")
    async def action_clear(self) -> None:
        from comfytui.core.queue import ops
        from comfytui.tui.screens.queue_clear import ClearQueueScreen

        services = self._ready()
        if services is None or services.store is None:
            return
        held = sum(1 for r in self.rows if r.kind == "held")
        local = sum(1 for r in self.rows if r.local)
        pending = sum(1 for r in self.rows if r.kind in ("pending", "foreign"))
        what = await self.app.push_screen_wait(ClearQueueScreen(held, local, pending))
        if not what:
            return
        count = await self._run(ops.clear(services.store, services.session.client, services.session.client.url, what))
        if count is not None:
            self.notify(f"cleared {count} job(s) ({what})")
            if what == "all":
                await services.session.resync()

    @work(group="queue-ops", exit_on_error=False, description="requeueing lost jobs")
    async def action_requeue_lost(self) -> None:
        from comfytui.core.queue import ops

        services = self._ready()
        if services is None or services.store is None:
            return
        copies = await self._run(ops.requeue_lost(services.store, services.session.client.url))
        if copies is not None:
            self.notify(f"requeued {len(copies)} lost job(s)" if copies else "no lost jobs to requeue")

    @work(group="queue-ops", exit_on_error=False, description="editing a held job")
    async def action_edit_held(self) -> None:
        services = self._ready()
        row = self._local_row("edited") if services else None
        if services is None or services.store is None or row is None:
            return
        if row.kind != "held":
            self.notify("hold the job first (h): only a held job can be edited", severity="warning")
            return
        job = await services.store.call(services.store.get, row.id)
        if job is None:
            return
        from comfytui.tui.screens.history_actions import edit_and_requeue

        await edit_and_requeue(self.app, services, job, replaces=job.id)
