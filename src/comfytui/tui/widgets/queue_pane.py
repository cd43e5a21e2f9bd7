"""The Queue pane: the running job with step and node progress, then pending jobs in run order."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, ProgressBar, Static

from comfytui.core.comfy.jobs import Job, JobBook, JobState
from comfytui.tui.format import STATE_GLYPHS, duration, job_label, origin
from comfytui.tui.widgets.tables import selected_key, sync_rows


def job_cell(job: Job) -> Text:
    """The job's label, with its batch name (dim) when it was queued as part of a batch."""
    text = Text(job_label(job))
    if job.batch and job.batch != job.label:
        text.append(f" · {job.batch}", style="dim")
    return text


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
    QueuePane DataTable { height: 1fr; margin-top: 1;  scrollbar-size-horizontal: 0; }
    """

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
        table: DataTable[str | Text] = DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("", "#", "job", "from", "waiting")
        yield table

    def on_mount(self) -> None:
        self.border_title = "Queue [2]"

    @property
    def table(self) -> DataTable:
        return self.query_one("#queue-table", DataTable)

    def selected_job_id(self) -> str | None:
        return selected_key(self.table)

    def show(self, book: JobBook) -> None:
        active = book.active()
        running = next((j for j in active if j.state == JobState.RUNNING), None)
        self._show_running(running)
        self._show_table(active)
        pending = sum(1 for j in active if j.state == JobState.PENDING)
        self.border_title = f"Queue [2] · {'1 running' if running else 'idle'} · {pending} pending"

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

    def _show_table(self, active: list[Job]) -> None:
        now = time.time()
        sync_rows(self.table, [j.prompt_id for j in active], {j.prompt_id: self._row(j, now) for j in active})

    @staticmethod
    def _row(job: Job, now: float) -> tuple[Text, str, Text, Text, str]:
        glyph = Text(STATE_GLYPHS[job.state], style="bold" if job.state == JobState.RUNNING else "dim")
        position = "run" if job.state == JobState.RUNNING else (str(job.position + 1) if job.position is not None else "?")
        who = Text(origin(job), style="italic yellow" if job.foreign else "")
        waiting = duration(now - job.created_at) if job.created_at and job.state == JobState.PENDING else ""
        return glyph, position, job_cell(job), who, waiting
