"""The History pane: finished jobs, newest first, with status, duration and outputs."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from comfytui.core.comfy.jobs import Job, JobBook
from comfytui.tui.format import STATE_GLYPHS, STATE_STYLES, clock, duration, origin
from comfytui.tui.widgets.queue_pane import job_cell
from comfytui.tui.widgets.tables import selected_key, sync_rows


class HistoryTable(DataTable):
    DEFAULT_CSS = """
    HistoryTable { border: round $primary 60%; height: 1fr;  scrollbar-size-horizontal: 0; }
    HistoryTable:focus { border: round $accent; }
    """
    BINDINGS = [Binding("enter", "open_job", "Open", id="history.open", tooltip="Show the job's output and details")]

    class OpenJob(Message):
        def __init__(self, prompt_id: str) -> None:
            super().__init__()
            self.prompt_id = prompt_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.border_title = "History [3]"
        self.add_columns("", "status", "job", "duration", "finished", "outputs", "from")

    def selected_job_id(self) -> str | None:
        return selected_key(self)

    def action_open_job(self) -> None:
        pid = self.selected_job_id()
        if pid:
            self.post_message(self.OpenJob(pid))

    def show(self, book: JobBook, limit: int = 200) -> None:
        finished = book.finished()[:limit]
        sync_rows(self, [j.prompt_id for j in finished], {j.prompt_id: self._row(j) for j in finished}, follow_top=True)
        self.border_title = f"History [3] · {len(finished)}"

    @staticmethod
    def _row(job: Job) -> tuple[Text, Text, Text, str, str, str, Text]:
        style = STATE_STYLES[job.state]
        outputs = ", ".join(o.filename for o in job.outputs[:3]) + (" …" if len(job.outputs) > 3 else "")
        if job.error is not None and not outputs:
            outputs = f"{job.error.exception_type}: {job.error.exception_message}"[:60]
        return (
            Text(STATE_GLYPHS[job.state], style=style),
            Text(str(job.state), style=style),
            job_cell(job),
            duration(job.duration_s),
            clock(job.ended_at),
            outputs,
            Text(origin(job), style="italic yellow" if job.foreign else ""),
        )
