"""Start-up to the first frame with the header, in a real terminal, and the cost of a full store.

Each side is a whole process started in its own tmux session (120x40, ``TERM=xterm-256color``);
the clock runs from ``tmux new-session`` to the first ``tmux capture-pane`` that shows the header
text (polled every 5 ms). Rounds alternate sides; medians are reported.

1. ``comfytui`` (the dashboard, on a real CPU ComfyUI, empty store) to ``comfytui http://…`` in
   the status line, beside ``bench/bare_app.py`` (a bare Textual app with the same panes) to its
   header. Target (issue 12): ≤ 1.5 ×.
2. The same dashboard with 10,000 finished jobs of this server in the store
   (``bench/history_store.fill``, dispatched by us, so the session restores them), beside the empty
   store. Target: ≤ 300 ms later.

    .venv/bin/python bench/startup.py [--rounds 5] [--quick] [--url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COMFYTUI, PYTHON, REPO, Result, Tmux, clean_env, emit, quick_arg, server  # noqa: E402
from bare_app import HEADER  # noqa: E402


def fill_store(home: Path, url: str, n: int) -> None:
    import os

    os.environ["COMFYTUI_HOME"] = str(home)
    from comfytui.core.store.db import _COLUMNS, Store, StoredJob, _job_values, new_job_id, server_key

    store = Store(home / "state" / "comfytui.db")
    now = time.time()
    rows = [
        StoredJob(id=new_job_id(), server=server_key(url), state=("success", "error", "lost")[i % 3], label=f"workflow {i}",
                  prompt={str(k): {"class_type": "KSampler", "inputs": {"seed": i}} for k in range(8)},
                  client_id="comfytui-bench", outputs=[[f"out_{i}.png", "", "output", "9", "images"]],
                  ended_at=now - i * 60, started_at=now - i * 60 - 5, dispatched_at=now - i * 60 - 6)
        for i in range(n)
    ]
    with store._tx() as conn:
        conn.executemany(f"INSERT INTO jobs({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                         [_job_values(r) for r in rows])
    store.close()


def with_bytecode(command: list[str], work: Path) -> list[str]:
    """``command`` keeping its compiled bytecode between runs, as an installed program does (the
    warm-up runs fill one cache folder). Tmux passes only COMFYTUI_HOME and COMFY_API_URL, so
    ``keep_bytecode``'s environment would not reach the child: PYTHONDONTWRITEBYTECODE (set in this
    project's shells) made every dashboard run recompile its own sources (~100 ms) while the bare
    app read site-packages' .pyc files."""
    return ["env", "-u", "PYTHONDONTWRITEBYTECODE", f"PYTHONPYCACHEPREFIX={work / 'pycache'}", *command]


def time_to(tmux: Tmux, name: str, command: list[str], env: dict[str, str], text: str) -> float:
    started = time.perf_counter()
    tmux.start(name, command, env)
    tmux.wait_for(name, text, timeout=60)
    elapsed = time.perf_counter() - started
    tmux.kill(name)
    time.sleep(0.3)
    return elapsed * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_arg(parser)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    work = Path(tempfile.mkdtemp(prefix="comfytui-bench-startup-"))
    tmux = Tmux()
    ours, bare, full = [], [], []
    try:
        with server(args.url) as url:
            fill_store(work / "full", url, args.jobs)
            header = f"comfytui {url}"
            env_empty = clean_env(work / "empty", url)
            env_full = clean_env(work / "full", url)
            dashboard = with_bytecode([str(COMFYTUI)], work)
            bare_app = with_bytecode([str(PYTHON), str(REPO / "bench" / "bare_app.py")], work)
            # warm-up (page cache, .pyc)
            time_to(tmux, "warm", dashboard, env_empty, header)
            time_to(tmux, "warm", bare_app, env_empty, HEADER)
            for n in range(rounds):
                ours.append(time_to(tmux, f"ours{n}", dashboard, env_empty, header))
                bare.append(time_to(tmux, f"bare{n}", bare_app, env_empty, HEADER))
                full.append(time_to(tmux, f"full{n}", dashboard, env_full, header))
                print(f"round {n + 1}: dashboard {ours[-1]:.0f} ms, bare {bare[-1]:.0f} ms, "
                      f"dashboard with {args.jobs} stored jobs {full[-1]:.0f} ms", file=sys.stderr)
    finally:
        tmux.close()
    a, b, c = statistics.median(ours), statistics.median(bare), statistics.median(full)
    print(f"first frame with the header: dashboard {a:.0f} ms, bare Textual app {b:.0f} ms; "
          f"dashboard with {args.jobs:,} finished jobs in the store {c:.0f} ms (medians of {rounds})")
    emit([
        Result("startup: first frame, dashboard vs bare Textual app", a, b, "ms", "ratio <= 1.5",
               note=f"tmux 120x40, median of {rounds}"),
        Result(f"startup: {args.jobs:,} stored jobs vs empty store", c, a, "ms", "delta <= 300",
               note=f"tmux 120x40, median of {rounds}"),
    ])


if __name__ == "__main__":
    main()
