"""Asks what ``C`` in the Queue pane clears: held jobs, every local job, or also the server's
pending queue (which removes other clients' jobs too)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ClearQueueScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ClearQueueScreen { align: center middle; }
    ClearQueueScreen > Vertical { width: 70; height: auto; border: thick $warning; background: $panel; padding: 1 2; }
    ClearQueueScreen #keys { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("h", "answer('held')", "Held"),
        Binding("l", "answer('local')", "Local"),
        Binding("a", "answer('all')", "All"),
        Binding("escape,n,q", "answer(None)", "Keep"),
    ]

    def __init__(self, held: int, local: int, pending: int) -> None:
        super().__init__()
        self.counts = (held, local, pending)

    def compose(self) -> ComposeResult:
        held, local, pending = self.counts
        with Vertical():
            text = Text("Clear which jobs?\n\n", style="bold")
            text.append(f"h  held jobs ({held})\n")
            text.append(f"l  every job in the local queue ({local})\n")
            text.append(f"a  all: the local queue and the server's {pending} pending job(s), other clients' too\n")
            yield Static(text, id="question")
            yield Static("h / l / a = clear · n / Esc = keep everything", id="keys")

    def action_answer(self, what: str | None) -> None:
        self.dismiss(what)
