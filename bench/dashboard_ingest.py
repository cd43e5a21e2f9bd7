"""Websocket messages through the session with the dashboard mounted: messages per second.

A headless ``ComfyTuiApp`` (Textual ``run_test``, 120x40) whose session's stream is replaced by a
replay of the recorded captures (bench/data/, fresh prompt ids per replay, see ingest.py): each
frame is decoded (``protocol.decode_text``) and handed to the session exactly as the websocket
stream would, yielding to the event loop after every frame the way a socket read does. The clock
runs from the first frame to the moment the app has drained its message queue and repainted; then
the screen is checked against the core ("latest state not dropped": the History pane's top row
is the newest finished job, the Queue pane lists the active jobs, the Logs pane ends with the
last log line).

Reference: the same replay through a bare ``ComfySession`` (no listener, no app) in the same run.
Target (issue 12): ≥ 20,000 messages/s with the dashboard.

The session's URL points at a closed port, so the queue refreshes and history look-ups the
session makes on its own fail at once instead of mixing a live server's state in.

    .venv/bin/python bench/dashboard_ingest.py [--replays 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Result, emit, free_port, headless_app, quick_arg  # noqa: E402
from ingest import capture_frames, replays  # noqa: E402


def replay_stream(rounds: list[list[str]], go: asyncio.Event, done: asyncio.Event):  # noqa: ANN201
    from comfytui.core.comfy import protocol

    async def events():  # noqa: ANN202
        await go.wait()
        for frames in rounds:
            for frame in frames:
                yield protocol.decode_text(frame)
                await asyncio.sleep(0)
        done.set()
        await asyncio.Event().wait()  # a socket that stays open and quiet

    return events


async def session_only(rounds: list[list[str]], url: str, home: Path) -> tuple[float, float]:
    import os

    os.environ["COMFYTUI_HOME"] = str(home)
    from comfytui.core.comfy.session import ComfySession
    from comfytui.core.config import Config

    session = ComfySession(Config().with_server(url=url), role="dashboard", follow_logs=True)
    go, done = asyncio.Event(), asyncio.Event()
    session._stream.events = replay_stream(rounds, go, done)
    task = asyncio.create_task(session.run())
    await asyncio.sleep(0.1)
    cpu = time.process_time()
    started = time.perf_counter()
    go.set()
    await done.wait()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await session.aclose()
    return elapsed, cpu


def screen_pending(app) -> bool:  # noqa: ANN001
    """A layout or paint the screen has not done yet (Textual's own flags)."""
    screen = app.screen
    return bool(screen._layout_required or screen._repaint_required or screen._dirty_widgets)


async def with_dashboard(rounds: list[list[str]], url: str, home: Path) -> tuple[float, float, float, list[str]]:
    from comfytui.tui.widgets.history_pane import HistoryTable
    from comfytui.tui.widgets.log_pane import LogPane
    from comfytui.tui.widgets.queue_pane import QueuePane

    app = headless_app(url, home)
    go, done = asyncio.Event(), asyncio.Event()
    app.session._stream.events = replay_stream(rounds, go, done)
    problems: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        cpu = time.process_time()
        started = time.perf_counter()
        go.set()
        await done.wait()
        while app.session_render_pending:  # noqa: ASYNC110 - a flag, no event: the last changes wait for the render throttle
            await asyncio.sleep(0.005)
        # Drained and painted: every message the app and the screen's widgets have queued is
        # handled (``pause(0)``), then the screen's pending layout and paint are done at once.
        # Until these came, ``pause()`` waited for the whole process to sit idle for 20 ms
        # (Textual's ``wait_for_idle``), which also waited out the store thread's journal writes
        # and any timer that happened to wake: ~0.14 s of a 0.36 s quick run.
        await pilot.pause(0)
        while app.session_render_pending or screen_pending(app):
            await pilot.pause(0)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        await pilot.pause()  # the old ending, for comparison: until the process sits idle
        await pilot.wait_for_scheduled_animations()
        idle = time.perf_counter() - started
        book = app.session.book
        history = app.query_one(HistoryTable)
        finished = book.finished()
        rows = [str(row.key.value) for row in history.ordered_rows]  # as on screen
        if finished and (not rows or rows[0] != finished[0].prompt_id):
            problems.append(f"History top row {rows[:1]} is not the newest finished job {finished[0].prompt_id}")
        queue = app.query_one(QueuePane)
        active = {j.prompt_id for j in book.active()}
        shown = {str(k.value) for k in queue.query_one("DataTable").rows} if queue.query("DataTable") else set()
        if shown and shown != active:
            problems.append(f"Queue pane shows {len(shown)} jobs, the book has {len(active)} active")
        logs = app.query_one(LogPane)
        if app.session.logs:
            last = app.session.logs[-1].message.strip()
            if not logs.buffer.lines or logs.buffer.lines[-1].plain.strip() != last.strip():
                problems.append("the Logs pane does not end with the last log line")
    return elapsed, cpu, idle, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=200)
    quick_arg(parser)
    args = parser.parse_args()
    n = 20 if args.quick else args.replays
    frames = capture_frames()
    rounds = replays(frames, n)
    total = len(frames) * n
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tmp = Path(tempfile.mkdtemp(prefix="comfytui-bench-ingest-"))
    bare_s, bare_cpu = asyncio.run(session_only(rounds, url, tmp / "bare"))
    app_s, app_cpu, idle_s, problems = asyncio.run(with_dashboard(rounds, url, tmp / "app"))
    app_rate, bare_rate = total / app_s, total / bare_s
    print(f"{total} messages ({len(frames)} x {n} replays)")
    print(f"through the session with the dashboard mounted: {app_rate:,.0f} messages/s "
          f"({total / app_cpu:,.0f} per CPU-second of this process; "
          f"{total / idle_s:,.0f}/s counted until the process sat idle, the ending before 2026-12-05)")
    print(f"through a bare session (reference):            {bare_rate:,.0f} messages/s "
          f"({total / bare_cpu:,.0f} per CPU-second)")
    # On a shared machine the wall-clock rate mostly measures the other processes: the CPU
    # figures (process time over the same window, the store's thread included) do not.
    for p in problems:
        print(f"LATEST STATE DROPPED: {p}")
    result = Result("ingest with dashboard mounted", app_rate, bare_rate, "msg/s", ">= 20000",
                    note=("latest state on screen" if not problems else "; ".join(problems)) + f"; {total} messages",
                    extra={"app_msgs_per_cpu_s": round(total / app_cpu), "app_msgs_per_s_until_idle": round(total / idle_s), "bare_msgs_per_cpu_s": round(total / bare_cpu)})
    if problems:
        result.met = False
    emit([result])


if __name__ == "__main__":
    main()
