"""``?``: every key binding of the screen underneath, grouped by where it works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter", "tab": "Tab", "ctrl+p": "Ctrl+P"}


def key_label(key: str) -> str:
    return " / ".join(KEY_NAMES.get(k, k) for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 95%; height: 90%; border: thick $accent; background: $panel; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, groups: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("comfytui keys  (Esc closes; Ctrl+P opens the command palette)", style="bold"))
            for title, rows in self.groups:
                table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True)
                table.add_column(width=16, style="bold cyan")
                table.add_column()
                for key, description in rows:
                    table.add_row(key_label(key), description)
                yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
