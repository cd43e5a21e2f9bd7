"""CPU of an idle dashboard connected to an idle server, beside a bare Textual app.

Both run at once, each in its own tmux session (120x40, a real terminal): ``comfytui`` (the
dashboard, connected to a real CPU ComfyUI with nothing queued) and ``bench/bare_app.py`` (a bare
Textual app with the same panes). Once the dashboard shows ``● connected`` and both have settled
(3 s), each process's CPU time (utime + stime from ``/proc/PID/stat``) is read, again after 60 s
(``--quick``: 10 s), and turned into % of one core.

Target (issue 12): the dashboard ≤ 1 % of a core.

    .venv/bin/python bench/idle_cpu.py [--seconds 60] [--quick] [--url URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    COMFYTUI,
    PYTHON,
    REPO,
    Result,
    Tmux,
    clean_env,
    cpu_seconds,
    emit,
    quick_arg,
    rss_mb,
    server,
)
from bare_app import HEADER  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_arg(parser)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    seconds = 10.0 if args.quick else args.seconds
    tmux = Tmux()
    try:
        with server(args.url) as url:
            env = clean_env(Path(tempfile.mkdtemp(prefix="comfytui-bench-idle-")), url)
            ours = tmux.start("ours", [str(COMFYTUI)], env)
            bare = tmux.start("bare", [str(PYTHON), str(REPO / "bench" / "bare_app.py")], env)
            tmux.wait_for("ours", "● connected", timeout=60, interval=0.05)
            tmux.wait_for("bare", HEADER, timeout=60, interval=0.05)
            time.sleep(3.0)
            a0, b0, t0 = cpu_seconds(ours), cpu_seconds(bare), time.monotonic()
            time.sleep(seconds)
            a1, b1, t1 = cpu_seconds(ours), cpu_seconds(bare), time.monotonic()
            rss_ours, rss_bare = rss_mb(ours), rss_mb(bare)
            still = "● connected" in tmux.capture("ours")
    finally:
        tmux.close()
    wall = t1 - t0
    ours_pct, bare_pct = (a1 - a0) / wall * 100, (b1 - b0) / wall * 100
    print(f"over {wall:.1f}s idle: dashboard {ours_pct:.2f} % of a core ({rss_ours:.0f} MB RSS), "
          f"bare Textual app {bare_pct:.2f} % ({rss_bare:.0f} MB RSS); still connected: {still}")
    emit([Result("idle: dashboard CPU, idle server", ours_pct, bare_pct, "% core", "<= 1",
                 note=f"{wall:.0f}s window, tmux 120x40; RSS {rss_ours:.0f} MB vs bare {rss_bare:.0f} MB")])


if __name__ == "__main__":
    main()
