"""``ProcessBackend``: a bare ``python main.py`` started by comfytui, no container.

The child runs in its own session (``start_new_session=True``, never through a shell) and writes
straight into a log file under the XDG state dir, so it outlives the comfytui that started it.
It is spawned with ``subprocess.Popen`` rather than ``asyncio.create_subprocess_exec``: asyncio's
subprocess transport kills a still-running child when it is closed or collected, which would take
ComfyUI down with a ``comfytui up`` that has finished. A
JSON state file next to the log (pid, command, start time) lets ``status``/``stop``/``logs`` work
from another comfytui invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from comfytui.core import paths
from comfytui.core.config import ProcessSettings
from comfytui.core.errors import ConfigError, LifecycleError
from comfytui.core.lifecycle.linebuf import MAX_LINE, LineSplitter
from comfytui.core.lifecycle.preflight import check_mounts, check_port
from comfytui.core.lifecycle.spec import is_loopback
from comfytui.core.lifecycle.types import LogLine, MountInfo, PreflightCheck, ServiceState, ServiceStatus
from comfytui.core.processes import pid_alive

_MARKER = re.compile(r"^=== comfytui: starting ComfyUI at (\S+) ===$")

LOG_ROTATE_BYTES = 8 * 1024 * 1024
"""A log larger than this at start is moved to ``<name>.log.1`` (one generation kept)."""

_READ_BLOCK = 1 << 20
"""Bytes read from the log at a time."""


def _lines_backwards(f: BinaryIO, size: int, block: int = 1 << 16) -> Iterator[bytes]:
    """The lines of ``f``'s first ``size`` bytes, last first, read in blocks from the end. The
    first item is what follows the last newline (``b""`` when the file ends with one)."""
    pos, rest = size, b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        first, *lines = (f.read(step) + rest).split(b"\n")
        yield from reversed(lines)
        rest = first
        if len(rest) > MAX_LINE:  # a huge line is kept only up to its last MAX_LINE bytes
            rest = rest[-MAX_LINE:]
    yield rest


def _cmdline(pid: int) -> list[str] | None:
    try:
        return [
            a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a
        ]
    except OSError:
        return None


class ProcessBackend:
    kind: Literal["process"] = "process"

    def __init__(
        self, settings: ProcessSettings, state_dir: Path | None = None, name: str = "comfyui"
    ) -> None:
        if not settings.comfyui_dir:
            raise ConfigError("process.comfyui_dir: empty; set it to the ComfyUI checkout that holds main.py")
        self.settings = settings
        self.name = name
        self.state_dir = (state_dir or paths.state_dir()) / "process"
        self.state_file = self.state_dir / f"{name}.json"
        self.log_file = self.state_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ what runs
    @property
    def comfyui_dir(self) -> Path:
        return Path(self.settings.comfyui_dir).expanduser()

    @property
    def main_py(self) -> Path:
        return self.comfyui_dir / "main.py"

    @property
    def base_directory(self) -> Path | None:
        return Path(self.settings.base_directory).expanduser() if self.settings.base_directory else None

    @property
    def python(self) -> str:
        return str(Path(self.settings.python).expanduser()) if self.settings.python else "python3"

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    @property
    def image(self) -> str:
        return str(self.main_py)

    @property
    def stop_timeout_s(self) -> float:
        return self.settings.stop_timeout_s

    def command(self) -> list[str]:
        cmd = [self.python, str(self.main_py), "--listen", self.host, "--port", str(self.port)]
        if self.settings.base_directory:
            cmd += ["--base-directory", str(Path(self.settings.base_directory).expanduser())]
        return cmd + list(self.settings.args)

    # ------------------------------------------------------------------ state file
    def _read_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_state(self, data: dict[str, Any]) -> None:
        paths.ensure(self.state_dir)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def _live_pid(self, state: dict[str, Any] | None) -> int | None:
        """The state file's pid when it still is our ComfyUI (not a recycled pid)."""
        pid = (state or {}).get("pid")
        if not isinstance(pid, int) or not pid_alive(pid):
            return None
        cmdline = _cmdline(pid)
        if (
            cmdline is not None
            and str(self.main_py) not in cmdline
            and not any(a.endswith("main.py") for a in cmdline)
        ):
            return None
        return pid

    def _reap(self) -> int | None:
        """Exit code of our own child if it has ended."""
        return self._proc.poll() if self._proc is not None else None

    # ------------------------------------------------------------------ Backend
    async def status(self) -> ServiceStatus:
        self._reap()  # a finished child of ours must not linger as a zombie
        state = self._read_state()
        if state is None:
            return ServiceStatus(
                backend="process", name=self.name, state=ServiceState.ABSENT, image=self.image, url=self.url
            )
        pid = self._live_pid(state)
        started = datetime.fromisoformat(state["started_at"]) if state.get("started_at") else None
        common = dict(
            backend="process",
            name=self.name,
            image=state.get("main_py", self.image),
            url=state.get("url", self.url),
            managed=True,
            started_at=started,
        )
        if pid is not None:
            uptime = (datetime.now(UTC) - started).total_seconds() if started else None
            return ServiceStatus(state=ServiceState.RUNNING, pid=pid, uptime_s=uptime, **common)  # type: ignore[arg-type]
        exit_code = state.get("exit_code")
        if exit_code is None:
            exit_code = self._reap()
        return ServiceStatus(state=ServiceState.EXITED, exit_code=exit_code, **common)  # type: ignore[arg-type]

    async def image_present(self) -> bool:
        return self.main_py.is_file()

    async def create(self) -> None:
        if not self.main_py.is_file():
            raise ConfigError(f"process.comfyui_dir: {self.main_py} does not exist")

    async def start(self) -> None:
        if self._live_pid(self._read_state()) is not None:
            return
        await self.create()
        self._proc = await asyncio.to_thread(self._spawn)

    def _spawn(self) -> subprocess.Popen[bytes]:
        base = self.settings.base_directory
        if base:
            for folder in ("custom_nodes", "models", "input", "output", "user"):
                (Path(base).expanduser() / folder).mkdir(parents=True, exist_ok=True)
        paths.ensure(self.state_dir)
        # PCI bus order makes CUDA's device numbers match nvidia-smi's and NVML's (CUDA's own
        # default is fastest-first); the user's [process] env may still override it.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **self.settings.env}
        cmd = self.command()
        started = datetime.now(UTC)
        self._rotate_log()
        with open(self.log_file, "ab") as log:
            log.write(f"=== comfytui: starting ComfyUI at {started.isoformat()} ===\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=str(self.comfyui_dir),
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LifecycleError(f"cannot start {cmd[0]}: {exc.strerror or exc}") from None
        self._write_state(
            {
                "pid": proc.pid,
                "command": cmd,
                "started_at": started.isoformat(),
                "url": self.url,
                "main_py": str(self.main_py),
                "log": str(self.log_file),
                "exit_code": None,
            }
        )
        return proc

    def _rotate_log(self) -> None:
        """Keep the log bounded across runs: past ``LOG_ROTATE_BYTES`` it becomes ``.1`` (an
        older ``.1`` is dropped). Only at start, when no child of ours is writing to it."""
        try:
            if self.log_file.stat().st_size > LOG_ROTATE_BYTES:
                self.log_file.replace(self.log_file.with_name(self.log_file.name + ".1"))
        except FileNotFoundError:
            pass

    async def stop(self, timeout: float | None = None) -> None:
        state = self._read_state()
        pid = self._live_pid(state)
        timeout = self.stop_timeout_s if timeout is None else timeout
        exit_code: int | None = self._reap()
        if pid is not None:
            exit_code = await self._terminate(pid, timeout)
        if state is not None:
            state.update(pid=None, exit_code=exit_code if exit_code is not None else state.get("exit_code"))
            self._write_state(state)

    async def _terminate(self, pid: int, timeout: float) -> int | None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.pid == pid and self._proc.poll() is not None:
                    return self._proc.returncode
                if not pid_alive(pid):
                    return None
                await asyncio.sleep(0.05)
        if pid_alive(pid):
            raise LifecycleError(f"ComfyUI (pid {pid}) did not stop after SIGTERM and SIGKILL")
        return None

    async def restart(self, timeout: float | None = None) -> None:
        await self.stop(timeout)
        await self.start()

    async def remove(self) -> None:
        await self.stop()
        self.state_file.unlink(missing_ok=True)

    async def logs(
        self, follow: bool = False, since: datetime | None = None, tail: int | None = None
    ) -> AsyncIterator[LogLine]:
        """Lines of the log file. The child writes them without timestamps, so ``since`` selects
        the runs started after it (each run begins with a marker line).

        ``tail`` is read backwards from the end of the file; without it the file is streamed in
        blocks. Either way memory stays bounded however large the log has grown.
        """
        offset = 0
        keep = since is None
        if tail is not None:
            lines, offset = await asyncio.to_thread(self._tail_lines, max(0, tail), since)
            for when, text in lines:
                yield LogLine(when, "stdout", text)
            if not follow:
                return
            keep = True
        splitter = LineSplitter()
        current: datetime | None = None
        backlog = tail is None  # still in the lines that were there before following
        while True:
            chunk, size = await asyncio.to_thread(self._read_from, offset)
            if size < offset:  # truncated or replaced (rotated): start over
                offset = 0
                splitter.reset()
                continue
            if not chunk:
                if backlog:
                    if not follow:
                        return
                    # Lines written from now on are shown whatever ``since`` says.
                    backlog, keep = False, True
                await asyncio.sleep(0.2)
                continue
            offset += len(chunk)
            for raw in splitter.feed(chunk):
                text = raw.decode("utf-8", "replace").rstrip("\r")
                match = _MARKER.match(text)
                when = datetime.fromisoformat(match.group(1)) if match else None
                if match:
                    current = when
                    if backlog and since is not None:
                        keep = when is not None and when >= since
                if keep:
                    yield LogLine(current if match else None, "stdout", text)

    def _read_from(self, offset: int) -> tuple[bytes, int]:
        """Up to ``_READ_BLOCK`` bytes from ``offset``, and the file's size."""
        try:
            with open(self.log_file, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size <= offset:
                    return b"", size
                f.seek(offset)
                return f.read(min(size - offset, _READ_BLOCK)), size
        except FileNotFoundError:
            return b"", 0

    def _tail_lines(self, tail: int, since: datetime | None) -> tuple[list[tuple[datetime | None, str]], int]:
        """The last ``tail`` complete lines (of the runs started at or after ``since``), read
        backwards from the end, and the offset just past the last complete line."""
        try:
            f = open(self.log_file, "rb")  # noqa: SIM115 - closed below; the generator reads it
        except FileNotFoundError:
            return [], 0
        with f:
            size = os.fstat(f.fileno()).st_size
            backwards = _lines_backwards(f, size)
            end = size - len(next(backwards))  # the unfinished last line waits for ``follow``
            if tail == 0:
                return [], end
            out: list[tuple[datetime | None, str]] = []  # newest first
            run: list[tuple[datetime | None, str]] = []  # the run being read, newest first, capped
            for raw in backwards:
                text = raw.decode("utf-8", "replace").rstrip("\r")
                match = _MARKER.match(text)
                when = datetime.fromisoformat(match.group(1)) if match else None
                if since is None:
                    out.append((when, text))
                    if len(out) >= tail:
                        break
                    continue
                # With ``since`` a run's lines count only once its marker (its first line) is
                # reached; only the newest ``tail`` of them are held meanwhile.
                if len(out) + len(run) < tail:
                    run.append((when, text))
                if match:
                    if when is not None and when >= since:
                        out += run
                    run = []
                    if len(out) >= tail:
                        break
            # Lines before the first marker belong to no run: ``since`` drops them.
            return out[:tail][::-1], end

    def run_lines(self, limit: int = 20) -> list[str]:
        """The last ``limit`` lines of the latest run (after its marker)."""
        try:
            f = open(self.log_file, "rb")  # noqa: SIM115 - closed below; the generator reads it
        except FileNotFoundError:
            return []
        with f:
            backwards = _lines_backwards(f, os.fstat(f.fileno()).st_size)
            next(backwards)  # the unfinished last line
            out: list[str] = []
            for raw in backwards:
                text = raw.decode("utf-8", "replace").rstrip("\r")
                if _MARKER.match(text) or len(out) >= limit:
                    break
                out.append(text)
        return out[::-1]

    async def preflight(self) -> list[PreflightCheck]:
        backend = self
        checks: list[PreflightCheck] = []
        main = backend.main_py
        if await asyncio.to_thread(main.is_file):
            checks.append(PreflightCheck("comfyui", True, f"{main} exists"))
        else:
            checks.append(
                PreflightCheck(
                    "comfyui",
                    False,
                    f"{main} does not exist",
                    "set [process] comfyui_dir to a ComfyUI checkout (the folder holding main.py)",
                )
            )
        python = backend.python
        resolved = python if os.path.sep in python else shutil.which(python)
        if resolved and os.access(resolved, os.X_OK):
            checks.append(PreflightCheck("python", True, f"{resolved} is executable"))
        else:
            checks.append(
                PreflightCheck(
                    "python",
                    False,
                    f"{python} is not an executable Python",
                    "set [process] python to the interpreter of ComfyUI's venv",
                )
            )
        if backend.host and not is_loopback(backend.host):
            checks.append(
                PreflightCheck(
                    "exposure",
                    False,
                    f"ComfyUI listens on {backend.host}:{backend.port}: ComfyUI has no authentication, so anyone "
                    "who can reach this address can run workflows and read outputs",
                    'set [process] host = "127.0.0.1" and use an SSH tunnel',
                    blocking=False,
                )
            )
        status = await backend.status()
        if status.state is ServiceState.RUNNING:
            checks.append(
                PreflightCheck(
                    "port", True, f"ComfyUI (pid {status.pid}) is running and holds port {backend.port}"
                )
            )
        else:
            checks.append(await asyncio.to_thread(check_port, backend.host, backend.port))
        base = backend.base_directory
        if base is not None:
            checks += await asyncio.to_thread(check_mounts, [MountInfo(str(base), "base_directory")], [str(base)])
        return checks

    async def close(self) -> None:
        return None
