"""A y/N confirmation for destructive actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 64; height: auto; border: thick $warning; background: $panel; padding: 1 2; }
    ConfirmScreen #question { margin-bottom: 1; }
    ConfirmScreen #keys { color: $text-muted; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No"),
        Binding("q", "answer(False)", "No", show=False),
        Binding("enter", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            # Text, not markup: the question names jobs and files that came from the server.
            question = Text(self.question, style="bold")
            if self.detail:
                question.append(f"\n\n{self.detail}", style="not bold")
            yield Static(question, id="question")
            yield Static("y = yes · n / Esc = no", id="keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
