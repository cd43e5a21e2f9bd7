"""The History pane: every finished job from the store (ours and other clients', across restarts
of comfytui and ComfyUI), newest first, with status, duration, outputs or error, and server.

``/`` filters (free text on id, label, batch and file; ``status:error``, ``server:HOST``,
``since:2h`` / ``since:2024-05-01`` words), ``f`` cycles the status shown, ``o`` the sort order.
One DataTable row per job and no widget per row; the pane holds the newest ``HISTORY_ROWS`` jobs
that match (the filter searches the whole store), and its title says when there are more.
``R`` queues a job again as it was (new seeds when its workflow says randomize), ``E`` opens it
in the parameter form first.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.core.comfy.journal import error_to_dict, outputs_to_lists
from comfytui.core.errors import InputError
from comfytui.core.store.db import FINISHED, StoredJob, server_key
from comfytui.tui.format import STATE_GLYPHS, STATE_STYLES, clock, duration, origin
from comfytui.tui.widgets.job_filter import (
    fleet_names,
    parse_filter,
    server_label,
    server_matches,
    server_part,
)
from comfytui.tui.widgets.queue_pane import job_cell, stored_cell
from comfytui.tui.widgets.tables import SyncedTable, selected_key, sync_rows

if TYPE_CHECKING:
    from comfytui.tui.services import Services

HISTORY_ROWS = 1_000
"""The newest this many matching jobs are shown (and sorted by ``S``): a row with its cells costs
~8 KB, and 10,000 of them were most of a long-running dashboard's memory (bench/logs_memory.py)."""
SERVER_SCAN_LIMIT = 10_000
"""With ``server:PART`` (matched here, not by the store), this many of the newest are read first."""
RENDER_CACHE = {"_cell_render_cache": 2_000, "_row_render_cache": 200, "_line_cache": 200}
"""Textual's DataTable keeps up to 10,000 rendered cells and 1,000 rows and lines, keyed by a
counter that each change of the table bumps: with jobs finishing, stale renders fill them to the
brim (MBs). A pane shows a few hundred cells; these keep several screens of them."""
RELOAD_EVERY_S = 1.0
"""While jobs finish, the store is read again at most this often; in between, the jobs that
finished in the session are applied to the rows already shown (what the store would answer)."""
STATUS_CYCLE: tuple[str | None, ...] = (None, *FINISHED)
SORTS: dict[str, Callable[[StoredJob], Any]] = {
    "newest": lambda j: -(j.ended_at or 0),
    "oldest": lambda j: j.ended_at or 0,
    "longest": lambda j: -(j.duration_s or 0),
    "status": lambda j: (j.state, -(j.ended_at or 0)),
    "label": lambda j: ((j.label or "").lower(), -(j.ended_at or 0)),
}
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

    def __init__(
        self, services: Services | None = None, server_names: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.services = services
        self.server_names = server_names
        """A fleet's servers (store key → configured name): the server column shows names."""
        self.filter_text = ""
        self.status_filter: str | None = None
        self.sort = "newest"
        self.jobs: dict[str, StoredJob] = {}
        """The rows shown, by id (from the store)."""
        self.loaded = 0
        self.matching = 0
        """How many jobs in the store match the filter (``loaded`` of them are shown)."""
        self._book: JobBook | None = None
        self._cells: dict[str, tuple[Any, ...]] = {}
        """Each shown row's cells, with the stored and live job they were made from."""
        self._applied: dict[str, Job] = {}
        """The session's finished jobs already applied to the rows, by id (by identity: the book
        replaces a job's record whenever it changes)."""
        self._applied_seq: dict[str, int] = {}
        self._seq = 0
        """Counts applications, so that a store read answered after one keeps what it applied."""
        self._reload_due: Any = None
        self._reloaded_at = float("-inf")
        self._title: tuple[str, str | None] = ("", None)
        for name, size in RENDER_CACHE.items():
            cache = getattr(self, name, None)
            if cache is not None and hasattr(cache, "maxsize"):
                cache.maxsize = size

    def on_mount(self) -> None:
        self.add_columns("", "status", "job", "duration", "finished", "outputs", "server")
        self._set_title(0)

    @property
    def pane(self) -> Any:
        return self.parent if isinstance(self.parent, HistoryPane) else self

    def _set_title(self, count: int, matching: int | None = None) -> None:
        if matching is not None and matching > count:
            title = f"History [3] · newest {count:,} of {matching:,}"
        else:
            title = f"History [3] · {count}"
        if self.status_filter:
            title += f" · {self.status_filter}"
        if self.filter_text:
            title += f" · /{self.filter_text}"
        if self.sort != "newest":
            title += f" · by {self.sort}"
        pane = self.pane
        # setting it repaints the pane, changed or not (and the pane may have set its own since)
        if self._title != (title, pane.border_title):
            pane.border_title = title
            self._title = (title, pane.border_title)

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
        """A job finished: apply the session's finished jobs to the rows shown now, and read the
        store again soon (at most every ``RELOAD_EVERY_S``: jobs recorded by others, other
        servers). Without a store, show the session's memory."""
        self._book = book
        if self.from_store:
            self._apply_book(book)
            self._reload_soon()
            return
        finished = book.finished()[:limit]
        sync_rows(self, [j.prompt_id for j in finished], {j.prompt_id: self._book_row(j) for j in finished}, follow_top=True)
        self._set_title(len(finished))

    def _reload_soon(self) -> None:
        if self._reload_due is not None:
            return  # one read is already due: it will see this change too
        wait = self._reloaded_at + RELOAD_EVERY_S - time.monotonic()
        if wait <= 0:
            self._reloaded_at = time.monotonic()
            self.reload()
        else:
            self._reload_due = self.set_timer(wait, self._reload_now)

    def _reload_now(self) -> None:
        self._reload_due = None
        self._reloaded_at = time.monotonic()
        self.reload()

    def _book_jobs_to_apply(self, book: JobBook) -> list[Job]:
        """Finished jobs of the session not applied yet (or changed since), while the rows are
        what a plain read of the store gives (no filter: a text filter is the store's to apply)."""
        if self.filter_text or self.services is None:
            return []
        applied = self._applied
        status = self.status_filter
        # Other clients' jobs reach the store through a dispatcher, which a read-only dashboard lacks.
        foreign_ok = not self.services.readonly
        return [
            job
            for pid, job in book.jobs.items()
            if applied.get(pid) is not job
            and job.state.finished
            and (status is None or job.state == status)
            and (foreign_ok or not job.foreign)
        ]

    def _apply_book(self, book: JobBook) -> None:
        fresh = self._book_jobs_to_apply(book)
        if not fresh:
            return
        self._seq += 1
        for job in fresh:
            self._applied[job.prompt_id] = job
            self._applied_seq[job.prompt_id] = self._seq
        self._show_rows(self._merged(list(self.jobs.values()), fresh), book)

    def _merged(self, rows: list[StoredJob], fresh: list[Job]) -> list[StoredJob]:
        """``rows`` with the session's finished jobs in ``fresh`` written as the journal writes
        them (``record_finished``): a new row, or the outcome of a row not finished yet."""
        services = self.services
        assert services is not None
        server = server_key(services.session.client.url)
        by_id = {r.id: r for r in rows}
        added: list[StoredJob] = []
        for job in fresh:
            outcome = {
                "state": str(job.state),
                "started_at": job.started_at,
                "ended_at": job.ended_at if job.ended_at is not None else time.time(),
                "outputs": outputs_to_lists(job.outputs),
                "error": error_to_dict(job.error),
            }
            row = by_id.get(job.prompt_id)
            if row is None:
                added.append(StoredJob(
                    id=job.prompt_id, server=server, label=job.label, batch=job.batch, prompt=job.prompt,
                    client_id=job.client_id or "", foreign=job.foreign, number=job.number, created_at=job.created_at,
                    dispatched_at=job.created_at or job.started_at, **outcome,
                ))
            elif row.state in ("queued", "pending", "running", "lost"):
                by_id[job.prompt_id] = dataclasses.replace(row, **outcome)
        self.matching += len(added)
        merged = added + list(by_id.values())  # new rows first among equal sort keys
        # the newest rows are the ones kept, whatever the pane's order
        if self.sort != "newest" and len(merged) > HISTORY_ROWS:
            merged.sort(key=SORTS["newest"])
            merged = merged[:HISTORY_ROWS]
        merged.sort(key=SORTS[self.sort])
        return merged[:HISTORY_ROWS]

    def _show_rows(self, jobs: list[StoredJob], book: JobBook) -> None:
        self.jobs = {j.id: j for j in jobs}
        cells = self._cells
        rows = {}
        for j in jobs:
            live = book.get(j.id)
            cached = cells.get(j.id)
            # a row's cells are made again only when its stored job or its live record changed
            if cached is None or cached[0] is not j or cached[1] is not live:
                cached = cells[j.id] = (j, live, self._stored_row(j, live))
            rows[j.id] = cached[2]
        for stale in cells.keys() - rows.keys():
            del cells[stale]
        sync_rows(self, [j.id for j in jobs], rows, follow_top=self.sort == "newest")
        self.loaded = len(jobs)
        self._set_title(len(jobs), self.matching)

    @work(exclusive=True, group="history-load", exit_on_error=False, description="reading the history")
    async def reload(self) -> None:
        services = self.services
        if services is None or services.store is None:
            return
        part = server_part(self.filter_text)
        part = part if part and "://" not in part else None
        try:
            query = parse_filter(self.filter_text, self.status_filter, limit=SERVER_SCAN_LIMIT if part else HISTORY_ROWS)
        except InputError as exc:
            self.notify(str(exc), severity="warning")
            return
        asked_at = self._seq
        store = services.store

        def read() -> tuple[list[StoredJob], int]:
            jobs = store.history(query)
            return jobs, len(jobs) if part or len(jobs) < query.limit else store.history_count(query)

        jobs, self.matching = await store.call(read)
        if part:
            jobs = [j for j in jobs if server_matches(part, j.server, self.server_names)]
            self.matching = len(jobs)
            del jobs[HISTORY_ROWS:]
        if self.sort != "newest":
            jobs.sort(key=SORTS[self.sort])
        book = self._book or services.session.book
        # what was applied from the session while the store was being read is not in its answer
        later = [job for pid, job in self._applied.items() if self._applied_seq.get(pid, 0) > asked_at]
        if later and not self.filter_text:
            jobs = self._merged(jobs, later)
        self._forget_applied(book)
        self._show_rows(jobs, book)

    def _forget_applied(self, book: JobBook) -> None:
        """Jobs the book no longer holds need no tracking (it keeps a bounded number)."""
        for pid in [p for p in self._applied if p not in book.jobs]:
            del self._applied[pid]
            self._applied_seq.pop(pid, None)

    def _stored_row(self, job: StoredJob, live: Job | None) -> tuple[Text, Text, Text, str, str, Text, Text]:
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
        server = Text(server_label(job.server, self.server_names))
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

    ALLOW_MAXIMIZE = True  # a container: Textual lets only focusable widgets maximize by default (z)

    DEFAULT_CSS = """
    HistoryPane { border: round $primary 60%; height: 1fr; }
    HistoryPane:focus-within { border: round $accent; }
    HistoryPane #history-filter { display: none; height: 1; border: none; padding: 0 1; }
    HistoryPane #history-filter.-open { display: block; }
    """
    BINDINGS = [Binding("escape", "close_filter", "Close filter", show=False)]

    def __init__(self, services: Services | None = None, servers: list[tuple[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.server_names = fleet_names(servers)

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: text status:error server:host since:2h (Enter applies, Esc closes)", id="history-filter")
        yield HistoryTable(self.services, self.server_names, id="history-table")

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
