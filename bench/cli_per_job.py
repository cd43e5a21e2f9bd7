"""``comfytui run W --wait`` as one process per job, beside comfy-cli's ``comfy run --wait``.

Each job is one whole process (interpreter start-up, config, submit, wait, exit), run one after
the other, alternating sides, on the same real CPU ComfyUI. Every job has its own ``color`` (a
fresh API-format workflow file per job, because ``comfy run`` takes no overrides with
``--workflow``), so no job is served from ComfyUI's cache. comfy-cli is installed from PyPI into its
own venv under ``~/.cache/comfytui/bench-comfy-cli`` (idempotent). Outputs are not downloaded by
either side (comfy-cli prints URLs; comfytui gets ``--no-download``).

Target (issue 12): comfytui ≤ 0.30 × comfy-cli, per job (median).

    .venv/bin/python bench/cli_per_job.py [--jobs 10] [--quick] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COMFYTUI, REPO, Result, clean_env, emit, keep_bytecode, quick_arg, server  # noqa: E402

WORKFLOW = REPO / "workflows" / "image-blur.json"
COMFY_CLI_VERSION = "1.23.0"
COMFY_CLI_VENV = Path(os.path.expanduser("~/.cache/comfytui/bench-comfy-cli"))
COMFY = COMFY_CLI_VENV / "bin" / "comfy"


def ensure_comfy_cli() -> Path:
    stamp = COMFY_CLI_VENV / ".installed"
    if stamp.exists() and COMFY.exists() and stamp.read_text().strip() == COMFY_CLI_VERSION:
        return COMFY
    print(f"installing comfy-cli=={COMFY_CLI_VERSION} into {COMFY_CLI_VENV} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(COMFY_CLI_VENV)], check=True)
    subprocess.run([str(COMFY_CLI_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    f"comfy-cli=={COMFY_CLI_VERSION}"], check=True)
    stamp.write_text(COMFY_CLI_VERSION + "\n")
    return COMFY


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick_arg(parser)
    parser.add_argument("--jobs", type=int, default=10, help="jobs per side (one process each)")
    args = parser.parse_args()
    jobs = 3 if args.quick else args.jobs
    comfy = ensure_comfy_cli()
    work = Path(tempfile.mkdtemp(prefix="comfytui-bench-cli-"))
    base_prompt = json.loads(WORKFLOW.read_text())
    colour = (int(time.time() * 1000) % 0xFFFFF) * 16

    def workflow_file(tag: str) -> Path:
        nonlocal colour
        colour += 1
        prompt = json.loads(json.dumps(base_prompt))
        prompt["1"]["inputs"]["color"] = colour
        path = work / f"{tag}-{colour}.json"
        path.write_text(json.dumps(prompt))
        return path

    with server(args.url) as url:
        parsed = urlparse(url)
        env_ours = keep_bytecode(clean_env(work / "home"), work)
        env_cli = keep_bytecode(dict(os.environ, HOME=str(work / "cli-home"), XDG_CONFIG_HOME=str(work / "cli-home" / ".config")), work)
        (work / "cli-home").mkdir()
        ours_cmd = lambda wf: [str(COMFYTUI), "run", str(wf), "--url", url, "--wait", "--no-download"]  # noqa: E731
        cli_cmd = lambda wf: [str(comfy), "--skip-prompt", "--no-enable-telemetry", "run", "--workflow", str(wf),  # noqa: E731
                              "--wait", "--host", parsed.hostname, "--port", str(parsed.port)]
        # warm-up: first-use imports in the server, our object_info cache, .pyc files on both sides
        timed(ours_cmd(workflow_file("warm")), env_ours)
        timed(cli_cmd(workflow_file("warm")), env_cli)
        ours: list[float] = []
        theirs: list[float] = []
        for n in range(jobs):
            ours.append(timed(ours_cmd(workflow_file("ours")), env_ours))
            theirs.append(timed(cli_cmd(workflow_file("cli")), env_cli))
            print(f"job {n + 1}: comfytui {ours[-1] * 1000:.0f} ms, comfy-cli {theirs[-1] * 1000:.0f} ms", file=sys.stderr)
    a, b = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(f"comfytui run W --wait --no-download, one process per job: {a:.0f} ms/job (median of {jobs})")
    print(f"comfy run --workflow W --wait (comfy-cli {COMFY_CLI_VERSION}, reference): {b:.0f} ms/job")
    emit([Result("cli: comfytui run --wait per job vs comfy-cli", a, b, "ms/job", "ratio <= 0.30",
                 note=f"{jobs} jobs per side, medians")])


if __name__ == "__main__":
    main()
