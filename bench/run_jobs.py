"""Per-job wall time of ``comfytui run --count N --wait`` against a minimal raw client.

Both sides queue the same prompt (workflows/image-blur.json, API format) N times on the same real
CPU ComfyUI and wait for every job to finish; each side gets its own ``color`` so neither is
served from the other's cache (within one side, jobs after the first come from ComfyUI's cache,
the same for both). Both are timed as whole processes (interpreter start-up included), then per
job. Rounds alternate sides; the median round is reported.

    .venv/bin/python bench/run_jobs.py                 # starts a private server (scripts/comfy-cpu)
    .venv/bin/python bench/run_jobs.py --url URL       # or uses a running one

Prints both figures and the ratio comfytui / raw.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflows" / "image-blur.json"
COMFY_CPU = REPO / "scripts" / "comfy-cpu"
TEST_NODES = REPO / "tests" / "comfy_nodes" / "comfytui_test_nodes"
COMFYTUI = Path(sys.executable).with_name("comfytui")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(base: Path) -> str:
    port = free_port()
    proc = subprocess.run(
        [sys.executable, str(COMFY_CPU), "start", "--port", str(port), "--base", str(base),
         "--custom-nodes", str(TEST_NODES), "--timeout", "180"],
        capture_output=True, text=True, timeout=240,
    )
    if proc.returncode != 0:
        sys.exit(f"could not start ComfyUI: {proc.stderr.strip()}")
    return f"http://127.0.0.1:{port}"


def stop_server(base: Path) -> None:
    subprocess.run([sys.executable, str(COMFY_CPU), "stop", "--base", str(base)], capture_output=True, timeout=60)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running ComfyUI with image nodes (default: start a private one)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="comfytui-bench-"))
    url = args.url or start_server(work / "comfy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(work / "home")
    colour = int(time.time()) % 0xFFFFF * 16
    ours: list[float] = []
    raw: list[float] = []
    try:
        # A warm-up job on each side's code path (first-use imports in the server, object_info cache).
        timed([str(COMFYTUI), "run", str(WORKFLOW), "--url", url, "--wait", "--no-download",
               "--set", f"1.color={colour}"], env)
        for round_no in range(args.rounds):
            colour += 2
            wall, out = timed([str(COMFYTUI), "run", str(WORKFLOW), "--url", url, "--count", str(args.count),
                               "--wait", "--json", "--no-download", "--set", f"1.color={colour}"], env)
            result = json.loads(out)
            assert result["status"] == "success" and len(result["jobs"]) == args.count, result["status"]
            ours.append(wall / args.count)
            wall, out = timed([sys.executable, str(REPO / "bench" / "raw_client.py"), "--url", url,
                               "--workflow", str(WORKFLOW), "--count", str(args.count),
                               "--set", f"1.color={colour + 1}"], env)
            assert json.loads(out)["failed"] == 0
            raw.append(wall / args.count)
            print(f"round {round_no + 1}: comfytui {ours[-1] * 1000:.1f} ms/job, raw {raw[-1] * 1000:.1f} ms/job",
                  file=sys.stderr)
    finally:
        if not args.url:
            stop_server(work / "comfy")
    ours_ms, raw_ms = statistics.median(ours) * 1000, statistics.median(raw) * 1000
    print(f"comfytui run --count {args.count} --wait --json --no-download: {ours_ms:.1f} ms per job (median of {args.rounds})")
    print(f"raw httpx+websockets client (reference):                {raw_ms:.1f} ms per job (median of {args.rounds})")
    print(f"ratio comfytui / raw: {ours_ms / raw_ms:.2f}")
    print(f"machine: {os.cpu_count()} cores; server {url}")


if __name__ == "__main__":
    main()
