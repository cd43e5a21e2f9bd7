"""The Queue pane: the running job with step and node progress, then one list in run order: the
running job, the jobs pending on the server (ours and other clients'), then comfytui's local
queue (docs/QUEUE.md) by priority and position, held jobs in their place.

Its keys change the local queue through ``core.queue.ops`` (the same functions as ``comfytui
queue``): pause/resume, hold/release, move, priority, cancel, clear, edit a held job, requeue
lost jobs. Jobs of other clients (foreign) can be cancelled, never reordered.

With several servers (docs/FLEET.md) it lists every server's part: the current server's live from
its session, the others' from the store (our jobs a daemon sent there, and their local queues),
then the jobs any server may run; a server column names each. ``/`` filters with History's words
(text, ``status:`` a row state, ``server:`` a name or part of the URL, ``since:``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.core.errors import ComfyTuiError, InputError
from comfytui.core.store.db import LOCAL, PRIORITY_NAMES, StoredJob, server_key
from comfytui.tui.format import STATE_GLYPHS, duration, job_label
from comfytui.tui.widgets.job_filter import (
    fleet_names,
    parse_filter,
    server_label,
    server_matches,
    server_part,
)
from comfytui.tui.widgets.tables import SyncedTable, selected_key, sync_rows

if TYPE_CHECKING:
    from comfytui.core.config import Config
    from comfytui.tui.services import Services

PRIORITY_ORDER = ("low", "normal", "high")
PRIORITY_MARKS = {"high": "▲", "normal": "", "low": "▼"}
ROW_STYLES = {"running": "bold", "pending": "", "local": "cyan", "held": "yellow", "foreign": "italic yellow"}
ROW_KINDS = ("running", "pending", "foreign", "local", "held")
SERVER_WIDTH = 12
"""The server column's widest name (cut with …): the pane keeps its room at 80 columns."""


IDLE_TEXT = Text("idle: nothing running", style="dim")


def set_text(static: Static, text: str | Text) -> None:
    """Show ``text`` in one of the pane's fixed-size lines (CSS gives each a height and width):
    nothing when it is already shown, and never a layout pass (which re-arranges and repaints the
    whole screen) since the line's size does not follow its text."""
    if static.content == text:
        return
    static.update(text, layout=False)


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


def waited(seconds: float) -> str:
    """How long a job has waited, in whole seconds: with tenths, every waiting row's cell changed
    at each render (ten a second), and each change repaints the whole table."""
    return f"{max(int(seconds), 0)}s" if seconds < 60 else duration(seconds)


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
    server: str = ""
    """Where it runs or waits: a server's store key, or the fleet's pool (any server)."""

    @property
    def local(self) -> bool:
        return self.kind in ("local", "held")

    def cells(self, now: float, names: Mapping[str, str] | None = None) -> tuple[Text | str, ...]:
        """The row's cells; with ``names`` (a fleet: store key → name), a server cell too."""
        glyph = {"running": STATE_GLYPHS[JobState.RUNNING], "held": "‖", "local": "·"}.get(self.kind, STATE_GLYPHS[JobState.PENDING])
        state = Text(self.kind, style=ROW_STYLES.get(self.kind, ""))
        if self.cached:
            state.append(" cached", style="dim")
        waiting = waited(now - self.since) if self.since and self.kind != "running" else ""
        position = "run" if self.kind == "running" else str(self.position)
        head: tuple[Text | str, ...] = (Text(glyph, style=ROW_STYLES.get(self.kind, "")), position, state)
        if names is not None:
            name = server_label(self.server, names)
            head += (Text(name if len(name) <= SERVER_WIDTH else name[: SERVER_WIDTH - 1] + "…", style="dim" if name == "any" else ""),)
        return (*head, PRIORITY_MARKS.get(self.priority, ""), self.label, waiting)

    def matches(self, wanted: Any, partial_server: str | None, names: Mapping[str, str] | None) -> bool:
        """Whether the filter bar's words (``parse_filter``'s query) keep this row."""
        if wanted.status and self.kind not in wanted.status:
            return False
        if wanted.server and self.server != server_key(wanted.server):
            return False
        if partial_server and not wanted.server and not server_matches(partial_server, self.server, names):
            return False
        if wanted.since is not None and (self.since or 0) < wanted.since:
            return False
        if wanted.until is not None and (self.since or 0) >= wanted.until:
            return False
        text = wanted.text.lower()
        return not text or text in self.id.lower() or text in self.label.plain.lower()


def run_order(book: JobBook, local: list[StoredJob], server: str = "") -> list[QueueRow]:
    """The current server's part from the job book (live), then what the store has on other
    servers (a fleet: our jobs running or pending there), then the local queues (the current
    server's first). ``server`` is the current server's store key."""
    rows: list[QueueRow] = []
    active = book.active()
    for job in active:
        if job.state == JobState.RUNNING:
            kind = "running"
        else:
            kind = "foreign" if job.foreign else "pending"
        rows.append(QueueRow(job.prompt_id, kind, 0, job_cell(job), since=job.created_at, cached=job.fully_cached, server=server))
    on_server = {j.prompt_id for j in active}
    elsewhere = [j for j in local if j.state != LOCAL and j.server != server]
    for stored in elsewhere:
        rows.append(QueueRow(stored.id, "running" if stored.state == "running" else "pending", 0, stored_cell(stored),
                             PRIORITY_NAMES.get(stored.priority, "normal"), stored.dispatched_at or stored.created_at, server=stored.server))
    for stored in local:
        if stored.state != LOCAL or stored.id in on_server or book.get(stored.id) is not None:
            continue  # just sent: the book has it already
        rows.append(
            QueueRow(stored.id, "held" if stored.held else "local", 0, stored_cell(stored),
                     PRIORITY_NAMES.get(stored.priority, "normal"), stored.created_at, server=stored.server)
        )
    # positions count from 1, per server, for everything that waits; a running job says "run"
    counted: dict[str, int] = {}
    numbered = []
    for row in rows:
        if row.kind != "running":
            counted[row.server] = counted.get(row.server, 0) + 1
        numbered.append(replace(row, position=counted.get(row.server, 0)))
    return numbered


class QueuePane(Vertical):
    ALLOW_MAXIMIZE = True  # a container: Textual lets only focusable widgets maximize by default (z)
    DEFAULT_CSS = """
    QueuePane { border: round $primary 60%; border-title-color: $text; padding: 0 1; }
    QueuePane:focus-within { border: round $accent; }
    QueuePane #running { height: 2; }
    QueuePane .bar-row { height: 1; }
    QueuePane .bar-label { width: 6; color: $text-muted; }
    QueuePane ProgressBar { width: 1fr; }
    QueuePane ProgressBar Bar { width: 1fr; }
    QueuePane .bar-info { width: 24; height: 1; padding-left: 1; }
    QueuePane #queue-banner { height: 1; color: $text-muted; }
    QueuePane #queue-banner.-paused { color: $warning; text-style: bold; }
    QueuePane DataTable { height: 1fr;  scrollbar-size-horizontal: 0; }
    QueuePane #queue-filter { display: none; height: 1; border: none; padding: 0 1; }
    QueuePane #queue-filter.-open { display: block; }
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
        Binding("slash", "open_filter", "Filter", id="queue.filter", tooltip="Filter: text, status:S, server:S, since:2h (as in History)"),
        Binding("escape", "close_filter", "Close filter", show=False),
    ]

    def __init__(self, services: Services | None = None, servers: list[tuple[str, Config]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.server_names = fleet_names(servers)
        """A fleet's servers (store key → configured name); None with one server: no server column."""
        self.pool: str | None = None
        if self.server_names:
            from comfytui.core.queue.fleet import pool_key

            self.pool = pool_key(self.server_names)
        self.local: list[StoredJob] = []
        self.paused = False
        self.dispatch_line = ""
        self.rows: list[QueueRow] = []
        """Every row of the run order (the filter hides some from the table, not from here)."""
        self.filter_text = ""
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
        yield Input(placeholder="filter: text status:local server:name since:2h (Enter applies, Esc closes)", id="queue-filter")
        table: DataTable[str | Text] = SyncedTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        if self.server_names is not None:
            table.add_columns("", "#", "state", "server", "pri", "job", "waiting")
        else:
            table.add_columns("", "#", "state", "pri", "job", "waiting")
        yield table

    def on_mount(self) -> None:
        self.border_title = "Queue [2]"
        if self.services is not None and self.services.store is not None:
            self.refresh_local()
            self.set_interval(1.0, self._poll_local)  # other processes change the queue too

    _store_mark: tuple[object, ...] | None = None

    async def _poll_local(self) -> None:
        """Re-read the local queue only when the store was written since the last read, or the
        current server changed (an idle dashboard must not read SQLite every second for nothing)."""
        store = self.services.store if self.services is not None else None
        if store is None:
            return
        try:
            mark = (*await store.call(store.change_mark), self.services.session.client.url)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - a busy or broken store must not take the pane down
            return
        if mark != self._store_mark:
            self._store_mark = mark
            self.refresh_local()

    @property
    def table(self) -> DataTable:
        return self.query_one("#queue-table", DataTable)

    def selected_job_id(self) -> str | None:
        return selected_key(self.table)

    def selected_row(self) -> QueueRow | None:
        key = self.selected_job_id()
        return next((r for r in self.rows if r.id == key), None)

    # -- rendering

    @property
    def current_server(self) -> str:
        return server_key(self.services.session.client.url) if self.services is not None else ""

    def show(self, book: JobBook) -> None:
        self._book = book
        active = book.active()
        running = next((j for j in active if j.state == JobState.RUNNING), None)
        self._show_running(running)
        self.rows = run_order(book, self.local, self.current_server)
        shown = self._filtered(self.rows)
        now = time.time()
        sync_rows(self.table, [r.id for r in shown], {r.id: r.cells(now, self.server_names) for r in shown})
        pending = sum(1 for r in self.rows if r.kind in ("pending", "foreign"))
        local = sum(1 for r in self.rows if r.local)
        runs = sum(1 for r in self.rows if r.kind == "running")
        title = "Queue [2]"
        if self.filter_text:  # first: a long title is cut at the pane's width
            title += f" · /{self.filter_text} · {len(shown)} of {len(self.rows)}"
        title += f" · {f'{runs} running' if runs else 'idle'} · {pending} pending"
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
        set_text(banner, line)
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
        store = services.store
        current = self.current_server
        others = [key for key in (*(self.server_names or ()), *([self.pool] if self.pool else [])) if key != current]
        try:
            status = await ops.status(store, services.session.client.url)
            # a fleet: the other servers' parts and the shared queue, in one trip to the store thread
            elsewhere = await store.call(lambda: [j for key in others for j in store.queue_rows(key)]) if others else []
        except Exception:  # noqa: BLE001 - a busy or broken store must not take the pane down
            return
        local = [j for j in status.jobs if j.state == LOCAL] + elsewhere
        if local == self.local and status.paused == self.paused and self._book is not None:
            return  # the once-a-second poll found nothing new: no render, no repaint
        self.local = local
        self.paused = status.paused
        self.show(self._book or services.session.book)

    def _show_running(self, job: Job | None) -> None:
        steps_bar = self.query_one("#steps-bar", ProgressBar)
        nodes_bar = self.query_one("#nodes-bar", ProgressBar)
        if job is None:
            set_text(self.query_one("#running", Static), IDLE_TEXT)
            steps_bar.update(total=1, progress=0)
            nodes_bar.update(total=1, progress=0)
            set_text(self.query_one("#steps-info", Static), "")
            set_text(self.query_one("#nodes-info", Static), "")
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
        set_text(self.query_one("#running", Static), title)
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
        set_text(self.query_one("#steps-info", Static), info)
        total = max(job.nodes_total, job.nodes_done, 1)
        nodes_bar.update(total=total, progress=job.nodes_done)
        set_text(self.query_one("#nodes-info", Static), f"{job.nodes_done}/{total}")

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

    # -- the filter (History's words: docs/QUEUE.md)

    def _filtered(self, rows: list[QueueRow]) -> list[QueueRow]:
        if not self.filter_text:
            return rows
        try:
            wanted = parse_filter(self.filter_text, statuses=ROW_KINDS)
        except InputError:
            return rows  # a word still being typed (Enter says what is wrong)
        partial = server_part(self.filter_text)
        return [r for r in rows if r.matches(wanted, partial, self.server_names)]

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.table.move_cursor(row=0, animate=False)
        if self._book is not None:
            self.show(self._book)

    def action_open_filter(self) -> None:
        bar = self.query_one("#queue-filter", Input)
        bar.add_class("-open")
        bar.value = self.filter_text
        bar.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_filter":
            return self.query_one("#queue-filter", Input).has_focus  # else Esc is the app's
        return True

    def action_close_filter(self) -> None:
        bar = self.query_one("#queue-filter", Input)
        if not bar.value.strip():
            bar.remove_class("-open")
        self.table.focus()

    @on(Input.Submitted, "#queue-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            parse_filter(event.value, statuses=ROW_KINDS)
        except InputError as exc:
            self.notify(str(exc), severity="warning")
        self.apply_filter(event.value)
        self.table.focus()
        if not event.value.strip():
            event.input.remove_class("-open")

    @on(Input.Changed, "#queue-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()  # as you type; a bad word warns on Enter only
        if self._book is not None:
            self.show(self._book)

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
        if not row.local and row.server != self.current_server:
            where = server_label(row.server, self.server_names)
            self.notify(f"{label} is {row.kind} on {where}: make it the current server (Ctrl+N) to cancel it there", severity="warning")
            return
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
