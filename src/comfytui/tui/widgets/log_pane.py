"""The log pane: ComfyUI's own log stream and the container/process log, merged with a source
column or one at a time; follow, filter (``/``), search (``n``/``N``), level highlighting,
timestamps (``t``) and wrapping (``w``). Lines are ``Text``, never markup: a ``[red]`` in a log
line shows as written."""

from __future__ import annotations

import re
import time
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, RichLog

from comfytui.core.logs import LogBuffer, LogLine

LEVEL_STYLES = {"error": "bold red", "warning": "yellow", "info": ""}
_CLOCK = re.compile(r"(\d{2}:\d{2}:\d{2})")


def short_time(stamp: str) -> str:
    """``HH:MM:SS`` of a log line's time (ComfyUI sends ISO 8601; podman an RFC 3339 or epoch)."""
    found = _CLOCK.search(stamp)
    if found:
        return found.group(1)
    try:
        return time.strftime("%H:%M:%S", time.localtime(float(stamp)))
    except ValueError:
        return stamp[:8]


class LogPane(Vertical, can_focus=True):
    DEFAULT_CSS = """
    LogPane { border: round $primary 60%; }
    LogPane:focus-within { border: round $accent; }
    LogPane RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1;  scrollbar-size-horizontal: 0; }
    LogPane Input { dock: bottom; height: 1; border: none; padding: 0 1; background: $boost; display: none; }
    LogPane Input.-open { display: block; }
    """
    BINDINGS = [
        Binding("f", "toggle_follow", "Follow", id="logs.follow", tooltip="Follow new lines (auto-scroll)"),
        Binding("slash", "open_filter", "Filter", id="logs.filter", tooltip="Show only lines containing a text"),
        Binding("n", "search(1)", "Next match", id="logs.next", show=False),
        Binding("N", "search(-1)", "Previous match", id="logs.previous", show=False),
        Binding("v", "cycle_source", "Source", id="logs.source", tooltip="All sources, or one at a time"),
        Binding("t", "toggle_timestamps", "Times", id="logs.times", tooltip="Show each line's time (HH:MM:SS)"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap", tooltip="Wrap long lines (again: cut them)"),
        Binding("y", "copy_command", "Copy cmd", id="logs.copy", show=False, tooltip="Copy the equivalent podman logs command"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, max_lines: int = 5000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.buffer = LogBuffer(max_lines)
        self.max_lines = max_lines
        self.follow = True
        self.timestamps = False
        self.wrap = False
        self.text_filter = ""
        self.source: str | None = None
        self.equivalent_command = ""
        self._shown: list[LogLine] = []
        self._match_index = -1

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=self.max_lines, wrap=False, markup=False, highlight=False, auto_scroll=True, id="log-view")
        yield Input(placeholder="filter logs (Enter to apply, Esc to clear)", id="log-filter", compact=True)

    def on_mount(self) -> None:
        self._retitle()

    @property
    def view(self) -> RichLog:
        return self.query_one("#log-view", RichLog)

    def _retitle(self) -> None:
        parts = ["Logs [4]", self.source or "all sources", "following" if self.follow else "paused"]
        if self.wrap:
            parts.append("wrap")
        if self.text_filter:
            parts.append(f"filter '{escape(self.text_filter)}'")  # border titles are markup
        self.border_title = " · ".join(parts)

    def _render_line(self, line: LogLine, show_source: bool) -> Text:
        text = Text()
        if self.timestamps:
            text.append(f"{short_time(line.time)} ", style="dim")
        if show_source:
            text.append(f"{line.source[:9]:<9} ", style="dim cyan")
        body = Text.from_ansi(line.text) if "\x1b[" in line.text else Text(line.plain)
        if line.level != "info":
            body.stylize(LEVEL_STYLES[line.level])
        if self.text_filter:
            body.highlight_words([self.text_filter], style="reverse", case_sensitive=False)
        text.append_text(body)
        return text

    def _visible(self, line: LogLine) -> bool:
        if self.source and line.source != self.source:
            return False
        return not self.text_filter or self.text_filter.lower() in line.plain.lower()

    def add(self, source: str, entries: list[tuple[str, str]]) -> None:
        added = self.buffer.extend(source, entries)
        show_source = self.source is None and len(self.buffer.sources()) > 1
        view = self.view
        for line in added:
            if self._visible(line):
                self._shown.append(line)
                view.write(self._render_line(line, show_source), scroll_end=self.follow)
        if len(self._shown) > self.max_lines:
            del self._shown[: len(self._shown) - self.max_lines]

    def rerender(self) -> None:
        view = self.view
        view.clear()
        show_source = self.source is None and len(self.buffer.sources()) > 1
        self._shown = list(self.buffer.matching(self.text_filter, self.source))
        if self._shown:
            # One write of the joined lines: RichLog pays a console render, a measure and a
            # layout refresh per write, which made a 5,000-line re-render cost ~250 ms.
            view.write(Text("\n").join(self._render_line(line, show_source) for line in self._shown), scroll_end=False)
        if self.follow:
            view.scroll_end(animate=False)
        self._match_index = -1
        self._retitle()

    # -- actions

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.view.auto_scroll = self.follow
        if self.follow:
            self.view.scroll_end(animate=False)
        self._retitle()

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.rerender()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.view.wrap = self.wrap
        self.rerender()

    def action_open_filter(self) -> None:
        field = self.query_one("#log-filter", Input)
        field.add_class("-open")
        field.value = self.text_filter
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.text_filter = event.value.strip()
        event.input.remove_class("-open")
        self.view.focus()
        self.rerender()

    def action_clear_filter(self) -> None:
        field = self.query_one("#log-filter", Input)
        field.remove_class("-open")
        if self.text_filter:
            self.text_filter = ""
            self.rerender()
        self.view.focus()

    def action_cycle_source(self) -> None:
        sources: list[str | None] = [None, *self.buffer.sources()]
        index = sources.index(self.source) if self.source in sources else 0
        self.source = sources[(index + 1) % len(sources)]
        self.rerender()

    def action_search(self, direction: int) -> None:
        """Jump to the next (or previous) shown line containing the filter text, or an error line."""
        if not self._shown:
            return
        needle = self.text_filter.lower()
        count = len(self._shown)
        start = self._match_index if self._match_index >= 0 else (count - 1 if direction < 0 else -1)
        for step in range(1, count + 1):
            index = (start + direction * step) % count
            line = self._shown[index]
            if (needle and needle in line.plain.lower()) or (not needle and line.level == "error"):
                self._match_index = index
                if self.follow:
                    self.action_toggle_follow()
                self.view.scroll_to(y=index, animate=False)
                self.notify(f"line {index + 1}/{count}: {line.plain[:80]}", timeout=2, markup=False)
                return
        self.notify("no match" if needle else "no error lines", severity="warning", timeout=2)

    def action_copy_command(self) -> None:
        if not self.equivalent_command:
            self.notify("no container or process log configured", severity="warning")
            return
        self.app.copy_to_clipboard(self.equivalent_command)
        self.notify(f"copied: {self.equivalent_command}", markup=False)
