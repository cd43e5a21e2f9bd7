"""The Workflows pane: bundled, user and server-saved workflows and output images with an embedded
workflow; each shows its format and node count. Enter (or r) queues the selected one, e edits it.

``reload()`` lists the local workflow folders in a thread and draws them, then inspects them
(format, node count) off the event loop and adds the server's saved workflows and output images.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from comfytui.core.config import Config
from comfytui.core.logs import strip_controls
from comfytui.core.workflows.library import WorkflowEntry, list_workflows

if TYPE_CHECKING:
    from comfytui.core.comfy.client import ComfyClient


def entry_text(entry: WorkflowEntry) -> Text:
    """One line per workflow: the name, then (dim) format, nodes and models; cut with an ellipsis
    rather than wrapped, so a narrow pane stays a list."""
    text = Text(f" {strip_controls(entry.name)}", no_wrap=True, overflow="ellipsis")  # a file name may hold escapes
    if entry.error:
        text.append("  unreadable", style="red")
    elif entry.format:
        detail = f"  {entry.format}"
        if entry.nodes is not None:
            detail += f" · {entry.nodes}n"
        if entry.models:
            detail += f" · {len(entry.models)}m"
        text.append(detail, style="dim")
    return text


class WorkflowList(OptionList):
    DEFAULT_CSS = """
    WorkflowList { border: round $primary 60%; height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    WorkflowList:focus { border: round $accent; }
    """
    BINDINGS = [Binding("enter", "queue_selected", "Queue", id="workflows.queue", tooltip="Queue the selected workflow")]

    class QueueRequested(Message):
        def __init__(self, entry: WorkflowEntry, front: bool = False) -> None:
            super().__init__()
            self.entry = entry
            self.front = front

    def __init__(self, config: Config, client: ComfyClient | None = None, **kwargs: object) -> None:
        """``client``: where the server's saved workflows and outputs come from (None: local only)."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.config = config
        self.client = client
        self.entries: list[WorkflowEntry] = []
        self.notes: list[str] = []

    def on_mount(self) -> None:
        self.border_title = "Workflows [1]"

    def reload(self) -> None:
        """List every source again (the folders are walked in a thread)."""
        self.load_sources()

    def _render(self, entries: list[WorkflowEntry]) -> None:
        current = self.selected()
        self.entries = entries
        self.clear_options()
        options: list[Option | None] = []
        source = None
        highlight = None
        for index, entry in enumerate(entries):
            if entry.source != source:
                source = entry.source
                options.append(Option(Text(source, style="bold dim"), id=f"header-{source}", disabled=True))
            if current is not None and (entry.source, entry.name) == (current.source, current.name):
                highlight = len(options)
            options.append(Option(entry_text(entry), id=str(index)))
        self.add_options(options)
        if entries:
            self.highlighted = highlight if highlight is not None else 1
        self.border_title = f"Workflows [1] · {len(entries)}"

    @work(exclusive=True, group="workflow-sources", exit_on_error=False, description="listing workflows")
    async def load_sources(self) -> None:
        from comfytui.core.errors import ComfyTuiError
        from comfytui.core.workflows.sources import inspect_entries, output_entries, server_entries

        local = await asyncio.to_thread(list_workflows, self.config)
        self._render(local)
        entries = await inspect_entries(local)
        self._render(entries)
        client = self.client
        if client is None:
            return
        notes: list[str] = []
        for fetch in (server_entries, output_entries):
            try:
                entries = entries + await fetch(client)
            except ComfyTuiError as exc:
                notes.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a listing problem must not take the pane down
                notes.append(f"{type(exc).__name__}: {exc}")
        self.notes = notes
        with contextlib.suppress(Exception):
            self._render(entries)

    def selected(self) -> WorkflowEntry | None:
        if self.highlighted is None or not self.entries:
            return None
        option_id = self.get_option_at_index(self.highlighted).id or ""
        return self.entries[int(option_id)] if option_id.isdigit() and int(option_id) < len(self.entries) else None

    def action_queue_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.post_message(self.QueueRequested(entry))
