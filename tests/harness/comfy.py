"""A real CPU ComfyUI 0.3.75 server for tests (through ``scripts/comfy-cpu``).

    server = ComfyServer(base=tmp_path / "comfy")   # a free loopback port is chosen now
    server.start()                                    # returns once GET /system_stats is 200
    server.url, server.port, server.base, server.log_path, server.pid
    server.kill()      # SIGKILL the whole process group (a crash)
    server.restart()   # start again on the same port and base
    server.stop()      # graceful (SIGTERM, then SIGKILL after 10 s)

Every started server is registered with a watchdog process and an atexit hook, so no ComfyUI
outlives the test run, even when pytest itself is killed.

The test node pack ``tests/comfy_nodes/comfytui_test_nodes`` is linked into every server's
``BASE/custom_nodes`` (ComfyTUIProgress, ComfyTUISleep, ComfyTUIFail). Identical prompts are served
from ComfyUI's cache: vary an input (``seed``) per test, e.g. with :func:`unique_seed`.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ._reaper import same_process, start_time
from .ports import free_port  # noqa: F401 - re-exported: tests import it from here

REPO_ROOT = Path(__file__).resolve().parents[2]
COMFY_CPU = REPO_ROOT / "scripts" / "comfy-cpu"
TEST_NODES = REPO_ROOT / "tests" / "comfy_nodes" / "comfytui_test_nodes"
COMFY_VERSION = "0.3.75"
INSTALL_HINT = (
    "run `scripts/comfy-cpu install` (or scripts/setup); it needs a Python 3.11 "
    "(pyenv install 3.11) and the PyPI registry"
)


class ComfyServerError(RuntimeError):
    """The server did not start, or did not answer in time (the message has the log tail)."""


# --------------------------------------------------------------------------------------------
# install check


_install_lock = threading.Lock()
_install_result: tuple[bool, str] | None = None


def comfy_cpu(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/comfy-cpu ARGS`` with this interpreter (the script is stdlib-only)."""
    return subprocess.run(
        [sys.executable, str(COMFY_CPU), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def install() -> tuple[bool, str]:
    """Run ``scripts/comfy-cpu install`` once per process (idempotent; ~0.2 s when cached).

    Returns ``(ok, output)``; the first call may take a few minutes on a clean machine.
    """
    global _install_result
    with _install_lock:
        if _install_result is None:
            try:
                proc = comfy_cpu("install", timeout=1200)
                _install_result = (proc.returncode == 0, (proc.stdout + proc.stderr).strip())
            except (OSError, subprocess.TimeoutExpired) as exc:
                _install_result = (False, f"{type(exc).__name__}: {exc}")
        return _install_result


def ensure_installed() -> None:
    """Install the CPU ComfyUI if needed; skip (locally) or fail (CI) when that is impossible."""
    from .components import require

    ok, output = install()
    lines = [line for line in output.splitlines() if "is ignored:" not in line]  # pip config noise
    tail = "\n".join(lines[-15:])
    require("ComfyUI CPU server (scripts/comfy-cpu)", ok, f"{INSTALL_HINT}\n{tail}")


# --------------------------------------------------------------------------------------------
# process helpers


def pid_alive(pid: int) -> bool:
    """True while PID exists and is no zombie (PID 1 here does not reap orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")




class _Reaper:
    """One watchdog process per test process; see ``_reaper.py``. Each process group is registered
    with its leader's start time, so that neither the watchdog nor the exit hook ever signals a
    recycled PID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.registered: dict[int, str | None] = {}

    def _send(self, line: str) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, str(Path(__file__).with_name("_reaper.py"))],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                # a respawned watchdog learns the process groups already registered
                line = "".join(f"+{pid} {started or ''}\n" for pid, started in self.registered.items()) + line
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(line.encode() + b"\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                pass

    def add(self, pid: int) -> None:
        started = self.registered[pid] = start_time(pid)
        self._send(f"+{pid} {started or ''}")

    def discard(self, pid: int) -> None:
        self.registered.pop(pid, None)
        self._send(f"-{pid}")

    def owns(self, pid: int) -> bool:
        """PID is still the process that was registered (not gone, not a recycled PID)."""
        return same_process(pid, self.registered.get(pid))

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.stdin is not None:
                try:
                    self._proc.stdin.close()
                except OSError:
                    pass
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass


_reaper = _Reaper()
_live: set[ComfyServer] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    pids = [s._pid for s in servers if s._pid is not None and _reaper.owns(s._pid)]
    for pid in pids:  # all at once: each takes ~0.5-1.5 s to exit on SIGTERM
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_reaper.owns(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _reaper.owns(pid):
            _signal_group(pid, signal.SIGKILL)
    _reaper.close()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# --------------------------------------------------------------------------------------------
# the server


class ComfyServer:
    """One real CPU ComfyUI on 127.0.0.1 with its own base directory.

    ``port`` is fixed for the object's lifetime (a free one is picked when not given), so
    :meth:`restart` comes back on the same URL. ``custom_nodes`` defaults to the test node pack.
    """

    def __init__(
        self,
        base: Path | str,
        port: int | None = None,
        *,
        custom_nodes: Sequence[Path | str] = (TEST_NODES,),
        extra_args: Sequence[str] = (),
        start_timeout: float = 120.0,
    ) -> None:
        self.base = Path(base).resolve()
        self._port_given = port is not None
        self.port = port if port is not None else free_port()
        self.custom_nodes = [Path(p) for p in custom_nodes]
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self._pid: int | None = None
        self._log_offset = 0
        #: seconds the last start took (from launching comfy-cpu to /system_stats 200)
        self.last_start_s: float | None = None

    # -- attributes -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def log_path(self) -> Path:
        return self.base / "comfyui.log"

    @property
    def pid_file(self) -> Path:
        return self.base / "comfyui.pid"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def input_dir(self) -> Path:
        return self.base / "input"

    @property
    def pid(self) -> int | None:
        """The server's pid (also its process-group id) while started, else None."""
        return self._pid

    def __repr__(self) -> str:
        return f"<ComfyServer {self.url} base={self.base} pid={self._pid}>"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> ComfyServer:
        """Start (no-op when running) and return once GET /system_stats answers 200."""
        if self.is_running():
            return self
        timeout = self.start_timeout if timeout is None else timeout
        self.base.mkdir(parents=True, exist_ok=True)
        stale = self._read_pid_file()
        if stale is not None and not pid_alive(stale[0]):
            self.pid_file.unlink(missing_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        for attempt in range(3):
            args = ["start", "--port", str(self.port), "--base", str(self.base), "--timeout", str(timeout)]
            for nodes in self.custom_nodes:
                args += ["--custom-nodes", str(nodes)]
            if self.extra_args:
                args += ["--", *self.extra_args]
            rc, stderr = self._run_start(args, timeout + 30)
            # 2: the port is taken. A port we picked ourselves lost a race: pick another (only
            # before the first successful start, so restart() keeps its promise of the same port).
            if rc == 2 and not self._port_given and self.last_start_s is None and attempt < 2:
                self.port = free_port()
                continue
            break
        if rc != 0:
            raise ComfyServerError(self._failure(f"scripts/comfy-cpu start exited {rc}:\n{stderr.strip()}"))
        self._adopt_pid_file()
        if self._pid is None:
            raise ComfyServerError(self._failure("scripts/comfy-cpu start wrote no pid file"))
        self.last_start_s = time.monotonic() - started
        return self

    def _run_start(self, args: list[str], limit: float) -> tuple[int, str]:
        """Run ``comfy-cpu start``, registering the server's pid with the watchdog as soon as the
        pid file appears (a test run killed during the ~10 s start must not leave an orphan)."""
        proc = subprocess.Popen(
            [sys.executable, str(COMFY_CPU), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        deadline = time.monotonic() + limit
        seen: int | None = None
        while True:
            try:
                _, stderr = proc.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            info = self._read_pid_file()
            if info is not None and info[0] != seen:
                seen = info[0]
                _reaper.add(seen)
            if time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                if seen is not None:
                    _signal_group(seen, signal.SIGKILL)
                    _reaper.discard(seen)
                self.pid_file.unlink(missing_ok=True)
                raise ComfyServerError(self._failure(f"scripts/comfy-cpu start did not return in {limit:.0f}s"))
        if proc.returncode != 0 and seen is not None and not pid_alive(seen):
            _reaper.discard(seen)
        return proc.returncode, stderr

    def _read_pid_file(self) -> tuple[int, int | None] | None:
        try:
            info = json.loads(self.pid_file.read_text())
            return int(info["pid"]), info.get("port")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _adopt_pid_file(self) -> None:
        info = self._read_pid_file()
        if info is None:
            return
        pid, port = info
        if port != self.port:
            raise ComfyServerError(
                f"{self.base} already has a ComfyUI on port {port} (pid {pid}), not {self.port}"
            )
        self._pid = pid
        with _live_lock:
            _live.add(self)
        _reaper.add(pid)

    def _forget(self) -> None:
        if self._pid is not None:
            _reaper.discard(self._pid)
        self._pid = None
        with _live_lock:
            _live.discard(self)

    def is_running(self) -> bool:
        """Whether the server process is alive (it may still be starting)."""
        return self._pid is not None and pid_alive(self._pid)

    def is_ready(self) -> bool:
        """Whether GET /system_stats answers 200 right now."""
        try:
            with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until GET /system_stats answers 200; ComfyServerError with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            if self.is_ready():
                return
            if self._pid is not None and not pid_alive(self._pid):
                raise ComfyServerError(self._failure("the server process exited"))
            if time.monotonic() >= deadline:
                raise ComfyServerError(self._failure(f"no 200 from /system_stats within {timeout:.0f}s"))
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group, like a crash; returns once the process is gone."""
        pid = self._pid
        if pid is None:
            return
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)
        self._forget()

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM to the group, SIGKILL after 10 s). Safe to call repeatedly."""
        pid = self._pid
        if pid is None:
            return
        if pid_alive(pid):
            try:
                comfy_cpu("stop", "--base", str(self.base), timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            if pid_alive(pid):
                _signal_group(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)
        self._forget()

    def restart(self, timeout: float | None = None) -> ComfyServer:
        """Stop (gracefully) if running, then start again on the same port and base."""
        self.stop()
        return self.start(timeout=timeout)

    # -- diagnostics ----------------------------------------------------------------------

    def log_text(self, since_start: bool = True) -> str:
        try:
            with open(self.log_path, "rb") as f:
                if since_start:
                    f.seek(self._log_offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return (
            f"ComfyUI at {self.url} (base {self.base}): {what}\n"
            f"--- last lines of {self.log_path} ---\n{self.log_tail() or '(empty)'}"
        )

    def __enter__(self) -> ComfyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# prompt helpers (API format) for the test node pack

_seeds = itertools.count(int(time.time() * 1000) % 1_000_000_000)


def unique_seed() -> int:
    """A seed not used before in this process: defeats ComfyUI's output cache between tests."""
    return next(_seeds) % (2**32)


def progress_prompt(
    *, steps: int = 4, delay: float = 0.05, fmt: str = "JPEG", seed: int | None = None,
    save: bool = True, prefix: str = "comfytui_test",
) -> dict:
    """ComfyTUIProgress (node "1") → SaveImage (or PreviewImage when ``save`` is false, node "2")."""
    prompt: dict = {
        "1": {"class_type": "ComfyTUIProgress",
              "inputs": {"steps": steps, "delay": delay, "fmt": fmt,
                         "seed": unique_seed() if seed is None else seed}},
    }
    if save:
        prompt["2"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}
    else:
        prompt["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    return prompt


def sleep_prompt(seconds: float = 1.0, *, seed: int | None = None) -> dict:
    """ComfyTUISleep (node "1") → PreviewImage (node "2")."""
    return {
        "1": {"class_type": "ComfyTUISleep",
              "inputs": {"seconds": seconds, "seed": unique_seed() if seed is None else seed}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def fail_prompt(message: str = "requested failure", *, fail: bool = True) -> dict:
    """ComfyTUIFail (node "1") → PreviewImage (node "2")."""
    return {
        "1": {"class_type": "ComfyTUIFail", "inputs": {"message": message, "fail": fail}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
