"""``o``: open a workflow file by path. Tab completes the path from the file system."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static


def complete_path(typed: str) -> str | None:
    """``typed`` completed with the first matching entry of its folder (a ``/`` after a folder;
    workflow-like files first). Blocking: it lists a directory."""
    if not typed:
        return None
    head, slash, stem = os.path.expanduser(typed).rpartition("/")
    folder = Path(head + slash) if slash else Path(".")
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name.startswith(stem))
    except OSError:
        return None
    names = [n for n in names if n.endswith((".json", ".png", "/"))] or names
    return typed + names[0][len(stem):] if names else None


def existing_file(typed: str) -> Path | None:
    """The typed path, absolute, when it names a file (blocking)."""
    path = Path(os.path.expanduser(typed))
    return path.resolve() if path.is_file() else None


class PathSuggester(Suggester):
    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value)


class OpenPathScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    OpenPathScreen { align: center middle; }
    OpenPathScreen > Vertical { width: 80; max-width: 95%; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
    OpenPathScreen #open-hint { color: $text-muted; margin-top: 1; }
    OpenPathScreen #open-error { color: $error; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Open a workflow file (API or editor JSON, or a PNG that embeds one)"))
            yield Input(placeholder="~/workflows/flux.json", id="open-path", suggester=PathSuggester())
            yield Static("", id="open-error")
            yield Static("Tab / → completes · Enter opens · Esc cancels", id="open-hint")

    def action_complete(self) -> None:
        field = self.query_one("#open-path", Input)
        field.action_cursor_right()  # at the end of the text, → accepts the suggestion

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = event.value.strip()
        if not typed:
            return
        path = await asyncio.to_thread(existing_file, typed)
        if path is None:
            self.query_one("#open-error", Static).update(Text(f"not a file: {typed}"))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
