"""The Logs pane on its own (a small Textual app, real widgets): what a user sees after a flood,
a filter, the toggles and a search. The lines are rendered lazily (only the rows on screen), so
every check reads the screen, not the pane's lists."""

from __future__ import annotations

from textual.app import App, ComposeResult

from comfytui.tui.widgets.log_pane import LogPane
from harness.app import screen_text, wait_until


class LogApp(App):
    def __init__(self, max_lines: int = 500) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogPane(self.max_lines, id="logs")


def flood(pane: LogPane, start: int, count: int, source: str = "comfyui") -> None:
    pane.add(source, [("2026-11-23T10:11:12", f"line {i:06d} step {i % 30}/30\n") for i in range(start, start + count)])


async def test_a_flood_keeps_log_lines_and_follows_the_newest() -> None:
    app = LogApp(max_lines=500)
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        for start in range(0, 20_000, 1_000):
            flood(pane, start, 1_000)
        await pilot.pause()
        assert len(pane.buffer.lines) == 500 and len(pane.view.lines) == 500
        text = screen_text(app)
        assert "line 019999" in text, "the newest line is on screen (following)"
        assert "line 019000" not in text


async def test_filter_from_the_keyboard_shows_matches_highlighted_and_escape_restores() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogPane)
        flood(pane, 0, 200)
        pane.add("comfyui", [("", "ERROR: node 12 failed: out of memory\n"), ("", "after the error\n")])
        await pilot.pause()
        pane.focus()
        await pilot.press("slash", *"memory", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "ERROR: node 12 failed: out of memory" in text
        assert "line 000199" not in text and "after the error" not in text
        assert "filter 'memory'" in pane.border_title
        assert app.focused is pane.view
        # the match is highlighted (reverse) where it is drawn
        rows = [pane.view.render_line(y) for y in range(pane.view.size.height)]
        strip = next(row for row in rows if "out of memory" in row.text)
        assert any(seg.text == "memory" and seg.style and seg.style.reverse for seg in strip)
        await pilot.press("escape")
        await pilot.pause()
        assert "after the error" in screen_text(app)
        assert len(pane.view.lines) == 202


async def test_server_text_is_not_markup_and_controls_are_stripped() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.query_one(LogPane)
        pane.add("comfyui", [("", "model [red]sd15[/red] loaded\x1b]0;title\x07 \x1b[31mred\x1b[0m done\x07\n")])
        await pilot.pause()
        text = screen_text(app)
        assert "model [red]sd15[/red] loaded red done" in text


async def test_wrap_timestamps_and_source_column() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 16)) as pilot:
        pane = app.query_one(LogPane)
        long = "start " + " ".join(f"word{i}" for i in range(40)) + " finish"
        pane.add("comfyui", [("2026-11-23T10:11:12", long + "\n"), ("", "short line\n")])
        await pilot.pause()
        assert "finish" not in screen_text(app), "cut at the pane's width when not wrapping"
        pane.focus()
        await pilot.press("w")
        await pilot.pause()
        text = screen_text(app)
        assert "start word0" in text and "finish" in text, "wrapped: the end of the long line shows"
        assert pane.view.row_count > 2
        await pilot.press("w", "t")
        await pilot.pause()
        assert "10:11:12 start word0" in screen_text(app)
        # a second source adds a source column to every line
        pane.add("process", [("", "from the process\n")])
        await pilot.pause()
        text = screen_text(app)
        assert "comfyui" in text and "process   from the process" in text
        await pilot.press("v")  # one source at a time: comfyui only
        await pilot.pause()
        assert "from the process" not in screen_text(app)


async def test_search_jumps_to_an_error_line_out_of_view() -> None:
    app = LogApp(max_lines=2000)
    async with app.run_test(size=(80, 16)) as pilot:
        pane = app.query_one(LogPane)
        flood(pane, 0, 100)
        pane.add("comfyui", [("", "Traceback (most recent call last): the early failure\n")])
        flood(pane, 100, 1000)
        await pilot.pause()
        assert "the early failure" not in screen_text(app)
        pane.focus()
        await pilot.press("n")
        await wait_until(pilot, lambda: "the early failure" in screen_text(app), what="the error line scrolled into view")
        assert "paused" in pane.border_title, "a search stops following"
