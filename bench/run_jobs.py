"""Per-job wall time of ``comfytui run --count N --wait`` (one process, N jobs) against a raw client.

Both sides queue N jobs of the same seeded prompt (bench/data/seeded.json: the test pack's
``ComfyTUIProgress``, one step, no delay, then ``SaveImage``) on the same real CPU ComfyUI, every
job with its own seed (comfytui ``--seed-mode increment``, the raw client ``--increment 1.seed``,
each side from its own start so nothing is served from ComfyUI's cache), and wait for every job.
Both are timed as whole processes (interpreter start-up included). Each round also runs one job
per side, so the table gets two figures: the whole process per job (start-up spread over N), and
the in-process cost of one more job in the batch, ``(T(N) - T(1)) / (N - 1)``, which leaves out
the fixed start-up (bench/cli_per_job.py and bench/startup.py measure that). Rounds alternate
sides; the median round is reported.

Target (issue 12): the in-process batch ≤ 1.05 × the raw client.

    .venv/bin/python bench/run_jobs.py                 # starts a private server (scripts/comfy-cpu)
    .venv/bin/python bench/run_jobs.py --url URL       # or uses a running one (with the test nodes)
    .venv/bin/python bench/run_jobs.py --workflow workflows/image-blur.json --seed-mode fixed  # the old, cached figure
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COMFYTUI, REPO, Result, clean_env, emit, keep_bytecode, quick_arg, server  # noqa: E402

WORKFLOW = REPO / "bench" / "data" / "seeded.json"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_arg(parser)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workflow", type=Path, default=WORKFLOW)
    parser.add_argument("--seed-input", default="1.seed", help="NODE.INPUT varied per job ('' for none)")
    args = parser.parse_args()
    count, rounds = (10, 1) if args.quick else (args.count, args.rounds)
    work = Path(tempfile.mkdtemp(prefix="comfytui-bench-"))
    env = keep_bytecode(clean_env(work / "home"), work)
    seed = (int(time.time()) % 100_000) * 10_000
    ours: list[float] = []
    raw: list[float] = []
    ours_more: list[float] = []
    raw_more: list[float] = []
    seed_node = args.seed_input

    def ours_cmd(url: str, start: int, n: int) -> list[str]:
        cmd = [str(COMFYTUI), "run", str(args.workflow), "--url", url, "--count", str(n), "--wait", "--json", "--no-download"]
        if seed_node:
            cmd += ["--seed-mode", "increment", "--set", f"{seed_node}={start}"]
        return cmd

    def raw_cmd(url: str, start: int, n: int) -> list[str]:
        cmd = [sys.executable, str(REPO / "bench" / "raw_client.py"), "--url", url,
               "--workflow", str(args.workflow), "--count", str(n)]
        if seed_node:
            cmd += ["--set", f"{seed_node}={start}", "--increment", seed_node]
        return cmd

    with server(args.url) as url:
        # A warm-up job on each side's code path (first-use imports in the server, object_info
        # cache, both sides' bytecode).
        timed(ours_cmd(url, seed, 1), env)
        timed(raw_cmd(url, seed + 1, 1), env)
        seed += 2
        for round_no in range(rounds):
            seed += 2 * count + 2
            wall, out = timed(ours_cmd(url, seed, count), env)
            result = json.loads(out)
            assert result["status"] == "success" and len(result["jobs"]) == count, result["status"]
            ours.append(wall / count)
            wall, out = timed(raw_cmd(url, seed + count, count), env)
            assert json.loads(out)["failed"] == 0
            raw.append(wall / count)
            one_ours, _ = timed(ours_cmd(url, seed + 2 * count, 1), env)
            one_raw, _ = timed(raw_cmd(url, seed + 2 * count + 1, 1), env)
            ours_more.append((ours[-1] * count - one_ours) / (count - 1))
            raw_more.append((raw[-1] * count - one_raw) / (count - 1))
            print(f"round {round_no + 1}: comfytui {ours[-1] * 1000:.1f} ms/job ({ours_more[-1] * 1000:.1f} per job more), "
                  f"raw {raw[-1] * 1000:.1f} ms/job ({raw_more[-1] * 1000:.1f} per job more)", file=sys.stderr)
    ours_ms, raw_ms = statistics.median(ours) * 1000, statistics.median(raw) * 1000
    more_ms, raw_more_ms = statistics.median(ours_more) * 1000, statistics.median(raw_more) * 1000
    print(f"comfytui run --count {count} --wait --json --no-download: {ours_ms:.1f} ms per job, "
          f"{more_ms:.1f} ms per job more in the batch (median of {rounds})")
    print(f"raw httpx+websockets client (reference):                {raw_ms:.1f} ms per job, "
          f"{raw_more_ms:.1f} ms per job more in the batch (median of {rounds})")
    emit([
        Result("batch: one more job in run --count N vs raw client", more_ms, raw_more_ms, "ms/job", "ratio <= 1.05",
               note=f"(T(N) - T(1)) / (N - 1), N={count}, distinct seeds, median of {rounds} rounds"),
        Result("batch: whole process per job vs raw client", ours_ms, raw_ms, "ms/job", "info",
               note=f"N={count}: start-up included, spread over the jobs"),
    ])


if __name__ == "__main__":
    main()
