"""The reference app for the terminal benchmarks: a bare Textual app laid out like the dashboard
(a one-line header, three panes over two over one, each with a rounded border and a title, and a
Footer) that does nothing else. ``startup.py`` times it to its first frame, ``idle_cpu.py``
measures what it costs doing nothing.

    .venv/bin/python bench/bare_app.py
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

HEADER = "bare-textual header"


class Pane(Static):
    DEFAULT_CSS = "Pane { border: round $primary 60%; height: 1fr; width: 1fr; }"


class BareApp(App[None]):
    CSS = """
    #header { height: 1; background: $panel; padding: 0 1; }
    #top-row { height: 2fr; } #middle-row { height: 2fr; } #logs { height: 1fr; }
    """
    BINDINGS = [Binding("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static(HEADER, id="header")
        with Horizontal(id="top-row"):
            for name in ("Workflows", "Queue", "Preview"):
                yield Pane(name, id=name.lower())
        with Horizontal(id="middle-row"):
            yield Pane("History", id="history")
            with Vertical(id="side"):
                yield Pane("Devices", id="devices")
        yield Pane("Logs", id="logs")
        yield Footer()

    def on_mount(self) -> None:
        for pane in self.query(Pane):
            pane.border_title = str(pane.render())


if __name__ == "__main__":
    BareApp().run()
