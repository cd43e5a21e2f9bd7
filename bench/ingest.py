"""How fast the core ingests websocket messages: ``protocol.decode_text`` + ``JobBook.apply``.

Replays the JSON messages of the recorded ComfyUI 0.3.75 captures (bench/data/, copied from the
API study) many times, each replay with fresh prompt ids so the book keeps growing the way a
long-running dashboard's does, and compares with ``json.loads`` alone on the same frames. Then
measures the book's memory (tracemalloc) after N replays.

    .venv/bin/python bench/ingest.py [--replays 200] [--memory-replays 1000] [--quick]

Target (issue 12): decode + reducer ≤ 3 × ``json.loads`` alone on the same frames. No server
needed (``--url`` is accepted and ignored, so ``bench/all`` can pass it to every module).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import tracemalloc
from pathlib import Path

from comfytui.core.comfy import protocol
from comfytui.core.comfy.jobs import JobBook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Result, emit, quick_arg  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FILES = ("ws_capture_all.jsonl", "ws_reconnect_logs.jsonl", "ws_transcript.jsonl")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def capture_frames() -> list[str]:
    """Every JSON message of the captures, as the text frame the server sent."""
    frames = []
    for name in FILES:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "json":
                frames.append(json.dumps(real_shape(record["msg"])))
    return frames


def real_shape(msg: dict) -> dict:
    """ws_reconnect_logs.jsonl stores ``progress_state`` nodes abbreviated as ``[state, value,
    max]`` (the capture tool did); a real server sends objects. Expand them so the figure measures
    real traffic, not the malformed-message path and its warning."""
    data = msg.get("data")
    if msg.get("type") == "progress_state" and isinstance(data, dict) and isinstance(data.get("nodes"), dict):
        pid = data.get("prompt_id")
        data["nodes"] = {
            k: {"value": v[1], "max": v[2], "state": v[0], "node_id": k, "prompt_id": pid, "display_node_id": k,
                "parent_node_id": None, "real_node_id": k} if isinstance(v, list) and len(v) == 3 else v
            for k, v in data["nodes"].items()
        }
    return msg


TIMESTAMP = re.compile(r'"timestamp": (\d+)')
REPLAY_SPAN_MS = 100_000
"""Each replay's server timestamps move on by this much (the captures span ~91 s)."""


def replays(frames: list[str], count: int) -> list[list[str]]:
    """``count`` copies of the frames, each with its own prompt ids (suffix ``-rN``) and its own
    server timestamps (later per replay): with the capture's timestamps reused, jobs of different
    replays finished at the same instant and "the newest finished job" had no single answer."""
    return [
        [
            TIMESTAMP.sub(
                lambda m, n=n: f'"timestamp": {int(m.group(1)) + n * REPLAY_SPAN_MS}',
                UUID.sub(lambda m, n=n: f"{m.group(0)[:-6]}{n:06d}", f),
            )
            for f in frames
        ]
        for n in range(count)
    ]


def ingest(rounds: list[list[str]]) -> JobBook:
    book = JobBook(own_client_prefix="cap-")
    now = 1_800_000_000.0
    for frames in rounds:
        for frame in frames:
            now += 0.001
            book.apply(protocol.decode_text(frame), now)
    return book


def loads_only(rounds: list[list[str]]) -> int:
    n = 0
    for frames in rounds:
        for frame in frames:
            json.loads(frame)
            n += 1
    return n


def best_of_alternating(fns, arg, repeat: int = 5) -> list[float]:  # noqa: ANN001
    """Best time of each function, their rounds interleaved: on a loaded machine a load spike then
    hits both sides, not only the one that happened to run during it."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn(arg)
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=200)
    parser.add_argument("--memory-replays", type=int, default=1000)
    quick_arg(parser)
    args = parser.parse_args()
    if args.quick:
        args.replays, args.memory_replays = 30, 100

    frames = capture_frames()
    rounds = replays(frames, args.replays)
    total = len(frames) * args.replays
    core_s, json_s = best_of_alternating([ingest, loads_only], rounds)
    core_rate, json_rate = total / core_s, total / json_s
    print(f"messages: {len(frames)} per replay x {args.replays} replays = {total}")
    print(f"decode_text + JobBook.apply: {core_rate:,.0f} messages/s ({core_s * 1e6 / total:.1f} us each)")
    print(f"json.loads alone (reference): {json_rate:,.0f} messages/s ({json_s * 1e6 / total:.1f} us each)")
    print(f"ratio json.loads / core: {json_rate / core_rate:.1f}x (the core's cost over parsing alone)")

    memory_rounds = replays(frames, args.memory_replays)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    book = ingest(memory_rounds)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    finished = sum(1 for j in book.jobs.values() if j.state.finished)
    print(
        f"memory after {args.memory_replays} replays ({len(book.jobs)} jobs kept, {finished} finished, "
        f"max_finished={book.max_finished}): book {(current - base) / 1024:.0f} KiB, "
        f"peak while ingesting {(peak - base) / 1024:.0f} KiB"
    )
    print(f"machine: {os.cpu_count()} cores")
    emit([Result("ingest: decode_text + JobBook.apply vs json.loads", core_s * 1e6 / total, json_s * 1e6 / total,
                 "us/msg", "ratio <= 3", note=f"{total} messages, best of 5, rounds alternating")])


if __name__ == "__main__":
    main()
