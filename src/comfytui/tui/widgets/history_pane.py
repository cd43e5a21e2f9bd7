"""The History pane: every finished job from the store (ours and other clients', across restarts
of comfytui and ComfyUI), newest first, with status, duration, outputs or error, and server.

``/`` filters (free text on id, label, batch and file; ``status:error``, ``server:HOST``,
``since:2h`` / ``since:2024-05-01`` words), ``f`` cycles the status shown, ``o`` the sort order.
One DataTable row per job and no widget per row: 10,000 jobs scroll like 10.
``R`` queues a job again as it was (new seeds when its workflow says randomize), ``E`` opens it
in the parameter form first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.core.errors import InputError
from comfytui.core.store.db import FINISHED, HistoryFilter, StoredJob
from comfytui.tui.format import STATE_GLYPHS, STATE_STYLES, clock, duration, origin
from comfytui.tui.widgets.queue_pane import job_cell, stored_cell
from comfytui.tui.widgets.tables import SyncedTable, selected_key, sync_rows

if TYPE_CHECKING:
    from comfytui.tui.services import Services

HISTORY_LIMIT = 10_000
STATUS_CYCLE: tuple[str | None, ...] = (None, *FINISHED)
SORTS: dict[str, Callable[[StoredJob], Any]] = {
    "newest": lambda j: -(j.ended_at or 0),
    "oldest": lambda j: j.ended_at or 0,
    "longest": lambda j: -(j.duration_s or 0),
    "status": lambda j: (j.state, -(j.ended_at or 0)),
    "label": lambda j: ((j.label or "").lower(), -(j.ended_at or 0)),
}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float | None = None) -> float:
    """``2h`` / ``3d`` (an age) or ``2024-05-01`` / ``2024-05-01T12:00`` (a local date/time)."""
    now = time.time() if now is None else now
    match = _AGE.match(text.strip().lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            continue
    raise InputError(f"not a date or an age: {text!r} (try 2h, 3d or 2024-05-01)")


def parse_filter(text: str, status: str | None = None, limit: int = HISTORY_LIMIT) -> HistoryFilter:
    """The filter bar's words as a store query: ``status:S`` (comma-separated), ``server:S``,
    ``since:W`` / ``until:W``; what is left is free text. ``status`` is the ``f`` cycle's pick."""
    statuses: list[str] = [status] if status else []
    server = None
    since = until = None
    words: list[str] = []
    for word in text.split():
        key, sep, value = word.partition(":")
        if sep and value and key in ("status", "server", "since", "until"):
            if key == "status":
                wanted = [s for s in value.split(",") if s]
                unknown = [s for s in wanted if s not in FINISHED]
                if unknown:
                    raise InputError(f"unknown status {unknown[0]!r}: {', '.join(FINISHED)}")
                statuses = wanted if not status else [s for s in wanted if s == status] or ["-none-"]
            elif key == "server":
                server = value
            elif key == "since":
                since = parse_when(value)
            else:
                until = parse_when(value)
        else:
            words.append(word)
    # server:URL is exact; server:HOST (no scheme) matches part of the URL, after the query
    exact = server if server and "://" in server else None
    return HistoryFilter(status=tuple(statuses), text=" ".join(words), server=exact, since=since, until=until, limit=limit)


def _server_part(text: str) -> str | None:
    for word in text.split():
        key, sep, value = word.partition(":")
        if key == "server" and sep and value:
            return value
    return None


class HistoryTable(SyncedTable):
    DEFAULT_CSS = """
    HistoryTable { height: 1fr;  scrollbar-size-horizontal: 0; }
    """
    BINDINGS = [
        Binding("enter", "open_job", "Open", id="history.open", tooltip="Show the job's output and details"),
        Binding("slash", "filter", "Filter", id="history.filter", tooltip="Filter: text, status:S, server:S, since:2h"),
        Binding("f", "cycle_status", "Status", id="history.status", tooltip="Show one status (all, success, error, ...)"),
        Binding("S", "cycle_sort", "Sort", id="history.sort", show=False, tooltip="Sort: newest, oldest, longest, status, label"),
        Binding("R", "requeue", "Requeue", id="history.requeue", tooltip="Queue the job again (new seeds when its workflow randomizes them)"),
        Binding("E", "edit_requeue", "Edit & requeue", id="history.edit", show=False, tooltip="Open the job in the parameter form, then queue it"),
    ]

    class OpenJob(Message):
        def __init__(self, prompt_id: str) -> None:
            super().__init__()
            self.prompt_id = prompt_id

    def __init__(self, services: Services | None = None, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.services = services
        self.filter_text = ""
        self.status_filter: str | None = None
        self.sort = "newest"
        self.jobs: dict[str, StoredJob] = {}
        """The rows shown, by id (from the store)."""
        self.loaded = 0
        self._book: JobBook | None = None

    def on_mount(self) -> None:
        self.add_columns("", "status", "job", "duration", "finished", "outputs", "server")
        self._set_title(0)

    @property
    def pane(self) -> Any:
        return self.parent if isinstance(self.parent, HistoryPane) else self

    def _set_title(self, count: int) -> None:
        title = f"History [3] · {count}"
        if self.status_filter:
            title += f" · {self.status_filter}"
        if self.filter_text:
            title += f" · /{self.filter_text}"
        if self.sort != "newest":
            title += f" · by {self.sort}"
        self.pane.border_title = title

    def selected_job_id(self) -> str | None:
        return selected_key(self)

    def action_open_job(self) -> None:
        pid = self.selected_job_id()
        if pid:
            self.post_message(self.OpenJob(pid))

    # -- data

    @property
    def from_store(self) -> bool:
        return self.services is not None and self.services.store is not None

    def show(self, book: JobBook, limit: int = 200) -> None:
        """A job finished: read the store again (without one, show the session's memory)."""
        self._book = book
        if self.from_store:
            self.reload()
            return
        finished = book.finished()[:limit]
        sync_rows(self, [j.prompt_id for j in finished], {j.prompt_id: self._book_row(j) for j in finished}, follow_top=True)
        self._set_title(len(finished))

    @work(exclusive=True, group="history-load", exit_on_error=False, description="reading the history")
    async def reload(self) -> None:
        services = self.services
        if services is None or services.store is None:
            return
        try:
            query = parse_filter(self.filter_text, self.status_filter)
        except InputError as exc:
            self.notify(str(exc), severity="warning")
            return
        jobs = await services.store.call(services.store.history, query)
        server_part = _server_part(self.filter_text)
        if server_part and "://" not in server_part:
            jobs = [j for j in jobs if server_part.lower() in j.server.lower()]
        if self.sort != "newest":
            jobs.sort(key=SORTS[self.sort])
        self.jobs = {j.id: j for j in jobs}
        book = self._book or services.session.book
        rows = {j.id: self._stored_row(j, book.get(j.id)) for j in jobs}
        sync_rows(self, [j.id for j in jobs], rows, follow_top=self.sort == "newest")
        self.loaded = len(jobs)
        self._set_title(len(jobs))

    @staticmethod
    def _stored_row(job: StoredJob, live: Job | None) -> tuple[Text, Text, Text, str, str, Text, Text]:
        state = JobState(job.state) if job.state in JobState.__members__.values() else JobState.LOST
        style = STATE_STYLES[state]
        status = Text(job.state, style=style)
        if live is not None and live.fully_cached:
            status.append(" cached", style="dim")
        if job.error and job.state != "success":
            message = f"{job.error.get('exception_type') or ''}: {job.error.get('exception_message') or ''}".strip(": ")
            outputs = Text(message[:80], style="red")
        else:
            names = [o[0] for o in job.outputs if o]
            outputs = Text(", ".join(names[:3]) + (" …" if len(names) > 3 else ""))
        ended = clock(job.ended_at)
        if job.ended_at and time.strftime("%Y%m%d", time.localtime(job.ended_at)) != time.strftime("%Y%m%d"):
            ended = time.strftime("%m-%d %H:%M", time.localtime(job.ended_at))
        server = Text(job.server.split("://", 1)[-1])
        if job.foreign:
            server.append(" foreign", style="italic yellow")
        return Text(STATE_GLYPHS[state], style=style), status, stored_cell(job), duration(job.duration_s), ended, outputs, server

    @staticmethod
    def _book_row(job: Job) -> tuple[Text, Text, Text, str, str, Text, Text]:
        style = STATE_STYLES[job.state]
        outputs = ", ".join(o.filename for o in job.outputs[:3]) + (" …" if len(job.outputs) > 3 else "")
        if job.error is not None and not outputs:
            outputs = f"{job.error.exception_type}: {job.error.exception_message}"[:60]
        status = Text(str(job.state), style=style)
        if job.fully_cached:
            status.append(" cached", style="dim")
        return (
            Text(STATE_GLYPHS[job.state], style=style),
            status,
            job_cell(job),
            duration(job.duration_s),
            clock(job.ended_at),
            Text(outputs),
            Text(origin(job), style="italic yellow" if job.foreign else ""),
        )

    # -- filter and sort

    def action_filter(self) -> None:
        pane = self.pane
        if isinstance(pane, HistoryPane):
            pane.open_filter()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text.strip()
        self.move_cursor(row=0, animate=False)
        self.reload()

    def action_cycle_status(self) -> None:
        index = STATUS_CYCLE.index(self.status_filter)
        self.status_filter = STATUS_CYCLE[(index + 1) % len(STATUS_CYCLE)]
        self.notify(f"history: {self.status_filter or 'every status'}")
        self.reload()

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        self.sort = names[(names.index(self.sort) + 1) % len(names)]
        self.notify(f"history sorted by {self.sort}")
        self.reload()

    # -- requeue

    async def _selected_stored(self) -> StoredJob | None:
        pid = self.selected_job_id()
        services = self.services
        if pid is None:
            self.notify("no job selected in History", severity="warning")
            return None
        if services is None or services.store is None:
            self.notify("the job store is not available: cannot requeue", severity="warning")
            return None
        if services.readonly:
            from comfytui.tui.services import READ_ONLY_MESSAGE

            self.notify(READ_ONLY_MESSAGE, severity="warning")
            return None
        job = await services.store.call(services.store.get, pid)
        if job is None or not job.prompt:
            self.notify(f"job {pid[:8]} has no stored prompt to run again", severity="warning")
            return None
        return job

    @work(group="history-requeue", exit_on_error=False, description="requeueing a job")
    async def action_requeue(self) -> None:
        from comfytui.core.errors import ComfyTuiError
        from comfytui.tui.screens.history_actions import requeue

        job = await self._selected_stored()
        if job is None or self.services is None:
            return
        try:
            copy, notes = await requeue(self.services, job)
        except ComfyTuiError as exc:
            self.notify(str(exc), title=f"cannot requeue {job.label or job.id[:8]}", severity="error")
            return
        self.notify("; ".join([f"requeued {job.label or job.id[:8]} as {copy.id[:8]}", *notes]), markup=False)

    @work(group="history-requeue", exit_on_error=False, description="editing a job to queue it again")
    async def action_edit_requeue(self) -> None:
        from comfytui.tui.screens.history_actions import edit_and_requeue

        job = await self._selected_stored()
        if job is None or self.services is None:
            return
        await edit_and_requeue(self.app, self.services, job)


class HistoryPane(Vertical):
    """The History table with its filter bar (shown by ``/``; Enter applies, Esc closes)."""

    DEFAULT_CSS = """
    HistoryPane { border: round $primary 60%; height: 1fr; }
    HistoryPane:focus-within { border: round $accent; }
    HistoryPane #history-filter { display: none; height: 1; border: none; padding: 0 1; }
    HistoryPane #history-filter.-open { display: block; }
    """
    BINDINGS = [Binding("escape", "close_filter", "Close filter", show=False)]

    def __init__(self, services: Services | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: text status:error server:host since:2h (Enter applies, Esc closes)", id="history-filter")
        yield HistoryTable(self.services, id="history-table")

    def on_mount(self) -> None:
        self.border_title = "History [3]"

    @property
    def table(self) -> HistoryTable:
        return self.query_one(HistoryTable)

    def show(self, book: JobBook, limit: int = 200) -> None:
        self.table.show(book, limit)

    def open_filter(self) -> None:
        bar = self.query_one("#history-filter", Input)
        bar.add_class("-open")
        bar.value = self.table.filter_text
        bar.focus()

    @on(Input.Submitted, "#history-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.apply_filter(event.value)
        self.table.focus()
        if not event.value.strip():
            event.input.remove_class("-open")

    @on(Input.Changed, "#history-filter")
    def _changed(self, event: Input.Changed) -> None:
        self.table.apply_filter(event.value)  # as you type; the store answers 10,000 rows fast

    def action_close_filter(self) -> None:
        bar = self.query_one("#history-filter", Input)
        if bar.has_focus:
            if not bar.value.strip():
                bar.remove_class("-open")
            self.table.focus()
