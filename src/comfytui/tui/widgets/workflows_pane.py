"""The Workflows pane: bundled and user workflows; Enter (or r) queues the selected one."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from comfytui.core.library import WorkflowEntry


class WorkflowList(OptionList):
    DEFAULT_CSS = """
    WorkflowList { border: round $primary 60%; height: 1fr; }
    WorkflowList:focus { border: round $accent; }
    """
    BINDINGS = [Binding("enter", "queue_selected", "Queue", id="workflows.queue", tooltip="Queue the selected workflow")]

    class QueueRequested(Message):
        def __init__(self, entry: WorkflowEntry, front: bool = False) -> None:
            super().__init__()
            self.entry = entry
            self.front = front

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.entries: list[WorkflowEntry] = []

    def on_mount(self) -> None:
        self.border_title = "Workflows [1]"

    def show(self, entries: list[WorkflowEntry]) -> None:
        self.entries = entries
        self.clear_options()
        options: list[Option | None] = []
        source = None
        for index, entry in enumerate(entries):
            if entry.source != source:
                source = entry.source
                options.append(Option(f"[b dim]{source}[/]", id=f"header-{source}", disabled=True))
            options.append(Option(f" {entry.name}", id=str(index)))
        self.add_options(options)
        if entries:
            self.highlighted = 1
        self.border_title = f"Workflows [1] · {len(entries)}"

    def selected(self) -> WorkflowEntry | None:
        if self.highlighted is None or not self.entries:
            return None
        option_id = self.get_option_at_index(self.highlighted).id or ""
        return self.entries[int(option_id)] if option_id.isdigit() else None

    def action_queue_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.post_message(self.QueueRequested(entry))
