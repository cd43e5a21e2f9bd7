"""The log pane: ComfyUI's own log stream and the container/process log, merged with a source
column or one at a time; follow, filter (``/``), search (``n``/``N``), level highlighting,
timestamps (``t``) and wrapping (``w``). Lines are ``Text``, never markup: a ``[red]`` in a log
line shows as written.

The view keeps references to the buffer's ``LogLine``s and renders only the rows on screen (line
API): a flood costs the buffer's parsing, not a console render per line, and a filter swaps the
list of shown lines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.cells import cell_len
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

from comfytui.core.logs import LogBuffer, LogLine
from comfytui.tui.widgets.scrolling import BoxNotSizedByContent

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


class LogView(BoxNotSizedByContent, ScrollView, can_focus=True):
    """The shown lines, rendered lazily: ``lines`` holds the ``LogLine``s, a paint renders the rows
    on screen through ``line_text`` (cached per line). Unwrapped, one line is one row (cut at the
    pane's width); wrapped, a long line takes as many rows as Rich's word wrap gives it."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow-y: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, line_text: Callable[[LogLine], Text], max_lines: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line_text = line_text
        self.max_lines = max_lines
        self.lines: list[LogLine] = []
        self.wrap = False
        self.auto_scroll = True
        self._rows: list[tuple[LogLine, int]] = []
        """Wrapped mode only: (line, row within the line) for each row."""
        self._strips: LRUCache[int, tuple[int, list[Strip]]] = LRUCache(1024)
        """A line's rendered rows by ``seq``, with the width they were rendered at."""

    # -- content

    def set_lines(self, lines: list[LogLine], *, wrap: bool) -> None:
        """Show ``lines`` instead (a filter, a toggle): cached rows are rendered again."""
        self.lines = lines[-self.max_lines :] if len(lines) > self.max_lines else lines
        self.wrap = wrap
        self._strips.clear()
        self._rows = self._wrapped_rows(self.lines) if wrap else []
        self._resize_virtual()
        self.refresh()

    def append(self, lines: list[LogLine], *, scroll_end: bool) -> None:
        self.lines.extend(lines)
        dropped = len(self.lines) - self.max_lines
        if dropped > 0:
            del self.lines[:dropped]
        if self.wrap:
            self._rows.extend(self._wrapped_rows(lines))
            if dropped > 0:
                first = self.lines[0].seq
                cut = 0
                while cut < len(self._rows) and self._rows[cut][0].seq < first:
                    cut += 1
                del self._rows[:cut]
        self._resize_virtual()
        if scroll_end:
            # Once laid out, the new end is known now (the virtual size is set above): scrolling
            # at once paints the new lines in the same frame as the growth, where a deferred
            # scroll painted the pane a second time after it.
            self.scroll_end(animate=False, immediate=bool(self.size), x_axis=False)
        self.refresh()

    def forget_rendering(self) -> None:
        """Lines render differently now (a source column appeared): render them again."""
        self.set_lines(self.lines, wrap=self.wrap)

    def row_of(self, index: int) -> int:
        """The first row of ``lines[index]``."""
        if not self.wrap:
            return index
        seq = self.lines[index].seq
        return next((row for row, (line, part) in enumerate(self._rows) if line.seq == seq and part == 0), 0)

    @property
    def row_count(self) -> int:
        return len(self._rows) if self.wrap else len(self.lines)

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.row_count)

    def on_resize(self, _event: Resize) -> None:
        if self.wrap:
            self._rows = self._wrapped_rows(self.lines)
        self._resize_virtual()

    # -- rendering

    def _width(self) -> int:
        return max(self.scrollable_content_region.width, 1)

    def _render(self, line: LogLine) -> list[Strip]:
        width = self._width()
        cached = self._strips.get(line.seq)
        if cached is not None and cached[0] == width:
            return cached[1]
        text = self.line_text(line)
        text.expand_tabs()
        console = self.app.console
        options = console.options.update_width(width)
        if not self.wrap:
            options = options.update(overflow="ignore", no_wrap=True)
        strips = [Strip(segments) for segments in Segment.split_lines(console.render(text, options))] or [Strip.blank(0)]
        if not self.wrap:
            strips = [Strip.join(strips)] if len(strips) > 1 else strips
        self._strips[line.seq] = (width, strips)
        return strips

    def _wrapped_rows(self, lines: Iterable[LogLine]) -> list[tuple[LogLine, int]]:
        width = self.scrollable_content_region.width
        if width <= 0:  # not laid out (hidden): a row each for now, counted again on resize
            return [(line, 0) for line in lines]
        rows: list[tuple[LogLine, int]] = []
        for line in lines:
            # most lines fit: only a long one pays a wrapping render
            height = 1 if "\t" not in line.plain and cell_len(line.plain) + 20 <= width else len(self._render(line))
            rows.extend((line, part) for part in range(height))
        return rows

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if self.wrap:
            if row >= len(self._rows):
                return Strip.blank(width, style)
            line, part = self._rows[row]
            strips = self._render(line)
            strip = strips[part] if part < len(strips) else Strip.blank(0)
        else:
            if row >= len(self.lines):
                return Strip.blank(width, style)
            strip = self._render(self.lines[row])[0]
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)


class LogPane(Vertical, can_focus=True):
    DEFAULT_CSS = """
    LogPane { border: round $primary 60%; }
    LogPane:focus-within { border: round $accent; }
    LogPane LogView { height: 1fr; background: $surface; scrollbar-size-vertical: 1;  scrollbar-size-horizontal: 0; }
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
        self._show_source = False
        self._match_index = -1

    def compose(self) -> ComposeResult:
        yield LogView(self._render_line, self.max_lines, id="log-view")
        yield Input(placeholder="filter logs (Enter to apply, Esc to clear)", id="log-filter", compact=True)

    def on_mount(self) -> None:
        self._retitle()

    @property
    def view(self) -> LogView:
        return self.query_one("#log-view", LogView)

    @property
    def _shown(self) -> list[LogLine]:
        return self.view.lines

    def _retitle(self) -> None:
        parts = ["Logs [4]", self.source or "all sources", "following" if self.follow else "paused"]
        if self.wrap:
            parts.append("wrap")
        if self.text_filter:
            parts.append(f"filter '{escape(self.text_filter)}'")  # border titles are markup
        self.border_title = " · ".join(parts)

    def _render_line(self, line: LogLine) -> Text:
        text = Text()
        if self.timestamps:
            text.append(f"{short_time(line.time)} ", style="dim")
        if self._show_source:
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

    def _wants_source(self) -> bool:
        return self.source is None and self.buffer.source_count() > 1

    def add(self, source: str, entries: list[tuple[str, str]]) -> None:
        added = self.buffer.extend(source, entries)
        view = self.view
        if self._wants_source() != self._show_source:
            self._show_source = not self._show_source
            view.forget_rendering()
        if self.source is None and not self.text_filter:
            shown = added
        else:
            shown = [line for line in added if self._visible(line)]
        if shown:
            view.append(shown, scroll_end=self.follow)

    def rerender(self) -> None:
        view = self.view
        self._show_source = self._wants_source()
        view.set_lines(list(self.buffer.matching(self.text_filter, self.source)), wrap=self.wrap)
        if self.follow:
            view.scroll_end(animate=False, immediate=False, x_axis=False)
        else:
            view.scroll_home(animate=False, immediate=False)
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
                self.view.scroll_to(y=self.view.row_of(index), animate=False)
                self.notify(f"line {index + 1}/{count}: {line.plain[:80]}", timeout=2, markup=False)
                return
        self.notify("no match" if needle else "no error lines", severity="warning", timeout=2)

    def action_copy_command(self) -> None:
        if not self.equivalent_command:
            self.notify("no container or process log configured", severity="warning")
            return
        self.app.copy_to_clipboard(self.equivalent_command)
        self.notify(f"copied: {self.equivalent_command}", markup=False)
