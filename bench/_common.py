"""What the benchmarks share: a private CPU ComfyUI, a results format, tmux and /proc helpers.

Every benchmark module prints human-readable lines while it runs and, last, one line
``BENCH {json}``: ``{"results": [{"name", "figure", "reference", "unit", "ratio", "target",
"met", "note"}]}``. ``bench/all`` runs the modules and reads that line; a module run alone prints
the same figures itself.

``ratio`` is figure / reference (or figure - reference for "later by" targets, see ``kind``);
``target`` is the bound written in issue 12, ``met`` whether this run satisfied it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMFY_CPU = REPO / "scripts" / "comfy-cpu"
TEST_NODES = REPO / "tests" / "comfy_nodes" / "comfytui_test_nodes"
PYTHON = Path(sys.executable)
COMFYTUI = PYTHON.with_name("comfytui")
MARK = "BENCH "


@dataclass
class Result:
    name: str
    figure: float
    reference: float | None
    unit: str
    target: str
    """e.g. ``ratio <= 0.30``, ``>= 20000``, ``delta <= 300``, ``<= 150``; ``info``: no target."""
    note: str = ""
    ratio: float | None = None
    met: bool | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target == "info":  # a figure shown beside a target's, with no target of its own
            self.ratio = self.figure / self.reference if self.reference else None
            return
        kind, _, bound = self.target.rpartition(" ")
        limit = float(bound)
        if "delta" in kind and self.reference is not None:
            self.ratio = self.figure - self.reference
            value = self.ratio
        elif "ratio" in kind and self.reference:
            self.ratio = self.figure / self.reference
            value = self.ratio
        else:
            self.ratio = self.figure / self.reference if self.reference else None
            value = self.figure
        self.met = value <= limit if "<=" in kind else value >= limit


def emit(results: list[Result]) -> None:
    for r in results:
        ref = f"{r.reference:,.3f}" if r.reference is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        print(f"{r.name}: {r.figure:,.3f} {r.unit} (reference {ref}; ratio/delta {ratio}; "
              f"target {r.target}: {'MET' if r.met else 'MISSED'}){' - ' + r.note if r.note else ''}")
    print(MARK + json.dumps({"results": [asdict(r) for r in results], "load": load(), "cores": os.cpu_count()}),
          flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(base: Path) -> str:
    proc = subprocess.run(
        [str(PYTHON), str(COMFY_CPU), "start", "--port", str(free_port()), "--base", str(base),
         "--custom-nodes", str(TEST_NODES), "--timeout", "240"],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        sys.exit(f"could not start ComfyUI: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1]


def stop_server(base: Path) -> None:
    subprocess.run([str(PYTHON), str(COMFY_CPU), "stop", "--base", str(base)], capture_output=True, timeout=60)


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    """``url`` if given, else a private CPU ComfyUI (with the test nodes) for the duration."""
    if url:
        yield url.rstrip("/")
        return
    base = Path(tempfile.mkdtemp(prefix="comfytui-bench-server-"))
    try:
        yield start_server(base / "comfy")
    finally:
        stop_server(base / "comfy")
        shutil.rmtree(base, ignore_errors=True)


def clean_env(home: Path, url: str | None = None) -> dict[str, str]:
    """The environment for a comfytui child: its own COMFYTUI_HOME, no stray COMFY_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMFY_", "COMFYTUI_"))}
    env["COMFYTUI_HOME"] = str(home)
    if url:
        env["COMFY_API_URL"] = url
    return env


# -- /proc


def keep_bytecode(env: dict[str, str], work: Path) -> dict[str, str]:
    """Children keep their compiled bytecode between runs, as an installed program does. With
    PYTHONDONTWRITEBYTECODE in the environment (this project's shells set it) every comfytui run
    recompiled its own sources (~80 ms) while comfy-cli's site-packages had its .pyc files; one
    cache folder for every side, filled by the warm-up runs, keeps the tree clean."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None = None) -> float:
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- tmux (a real terminal)


class Tmux:
    """A private tmux server (own socket) with one window per command, 120x40 by default."""

    def __init__(self) -> None:
        self.socket = f"comfytui-bench-{os.getpid()}-{time.monotonic_ns()}"

    def _run(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check).stdout

    def start(self, name: str, command: list[str], env: dict[str, str], width: int = 120, height: int = 40) -> int:
        """Start ``command`` in a new detached session; returns the pid of the command."""
        import shlex

        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k in ("COMFYTUI_HOME", "COMFY_API_URL"))
        line = f"exec env {exports} TERM=xterm-256color COLORTERM=truecolor {shlex.join(command)}"
        self._run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), line)
        return int(self._run("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def capture(self, name: str) -> str:
        return self._run("capture-pane", "-p", "-t", name, check=False)

    def send(self, name: str, *keys: str) -> None:
        self._run("send-keys", "-t", name, *keys, check=False)

    def wait_for(self, name: str, text: str, timeout: float = 60.0, interval: float = 0.005) -> float:
        """Seconds until ``text`` appears in the pane (polling capture-pane); raises on timeout."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if text in self.capture(name):
                return time.perf_counter() - started
            time.sleep(interval)
        raise TimeoutError(f"{text!r} did not appear in {name} within {timeout}s:\n{self.capture(name)}")

    def kill(self, name: str) -> None:
        self._run("kill-session", "-t", name, check=False)

    def close(self) -> None:
        self._run("kill-server", check=False)


def quick_arg(parser) -> None:  # noqa: ANN001
    parser.add_argument("--quick", action="store_true", help="a small, fast configuration (smoke run)")
    parser.add_argument("--url", help="a running ComfyUI with the comfytui test nodes (default: start a private one)")


# -- a headless dashboard (Textual's run_test) in this process


def headless_app(url: str, home: Path, **ui: object):  # noqa: ANN201
    """A ``ComfyTuiApp`` on ``url`` with its files under ``home`` (set before the app is built)."""
    os.environ["COMFYTUI_HOME"] = str(home)
    from comfytui.core.config import Config, ReconnectSettings
    from comfytui.tui.app import ComfyTuiApp

    config = Config().with_server(url=url)
    ui_settings = {"image_protocol": "halfcell", **ui}
    config = config.replace(reconnect=ReconnectSettings(base_delay_s=0.2, max_delay_s=1.0),
                            ui=type(config.ui)(**ui_settings))
    return ComfyTuiApp(config)


async def wait_until(pilot, predicate, timeout: float = 30.0, what: str = "the condition") -> float:  # noqa: ANN001
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.01)
    return time.perf_counter() - started
