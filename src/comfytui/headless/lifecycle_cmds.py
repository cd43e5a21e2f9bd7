"""Headless lifecycle commands: ``up``, ``down``, ``restart``, ``status``, ``logs``, ``pull``, ``preflight``.

They manage what ``config.backend`` names: a podman container (the default, also when the
backend is "none") or a bare process ("process"). Progress and phases go to stderr; results
(the URL after ``up``, ``status --json``, log lines) go to stdout.

Exit codes: 0 ok, 2 bad config or input (a failed preflight check included), 3 podman or the
server unreachable, or the startup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from comfytui.core.config import Config
from comfytui.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    ComfyTuiError,
    InputError,
    LifecycleError,
)
from comfytui.core.lifecycle import (
    Change,
    Notice,
    Phase,
    PhaseChanged,
    PodmanBackend,
    PreflightCheck,
    PullProgress,
    ServiceState,
    ServiceStatus,
    StartupFailed,
    blocking_failures,
    make_backend,
)
from comfytui.core.lifecycle.events import (
    BusyChanged,
    ChangesFound,
    LifecycleEvent,
    OperationFinished,
    PreflightChecked,
)
from comfytui.core.lifecycle.instances import find_instances, gpu_instances, instance_gpu
from comfytui.core.lifecycle.manager import LifecycleManager
from comfytui.core.lifecycle.preflight import CDI_DIRS, cdi_gpu_names

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30s``, ``10m``, ``2h``, ``1d``, a Unix time, or an ISO 8601 time → an aware datetime."""
    now = now or datetime.now(UTC)
    text = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--since {text!r}: expected a duration (30s, 10m, 2h, 1d), a Unix time or an ISO 8601 time"
        ) from None
    return value if value.tzinfo else value.astimezone()


def _err(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stderr, flush=True)


def _format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_check(check: PreflightCheck) -> str:
    mark = "ok  " if check.ok else ("FAIL" if check.blocking else "warn")
    line = f"  {mark} {check.name}: {check.message}"
    if check.fix and not check.ok:
        line += f"\n       fix: {check.fix}"
    return line


def format_phase(event: PhaseChanged) -> str:
    if event.changed:
        text = f"[{event.elapsed_s:6.1f}s] {event.phase.value}: {event.detail}"
    else:
        text = f"[{event.elapsed_s:6.1f}s]   … {event.detail}"
        if event.latest_log_line:
            text += f" | {event.latest_log_line[:160]}"
    return text


class PullPrinter:
    """Pull progress on stderr: one rewritten line on a terminal, a line per second otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = 0.0
        self.statuses: dict[str, str] = {}

    def __call__(self, event: PullProgress) -> None:
        changed = event.layer and self.statuses.get(event.layer) != event.status
        if event.layer:
            self.statuses[event.layer] = event.status
        percent = f"{event.percent:5.1f}%" if event.percent is not None else "   ?%"
        bytes_part = ""
        if event.current is not None and event.total:
            bytes_part = f" {event.current / 1e6:.1f}/{event.total / 1e6:.1f} MB"
        text = (
            f"pull {percent} ({event.layers_done}/{event.layers_total} layers) "
            f"{event.layer} {event.status}{bytes_part}"
        )
        now = time.monotonic()
        if self.tty:
            if now - self.last >= 0.1 or changed:
                self.stream.write("\r\033[K" + text[:150])
                self.stream.flush()
                self.last = now
        elif changed or now - self.last >= 1.0:
            _err(text, self.stream)
            self.last = now

    def done(self, message: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        _err(message, self.stream)


async def _pull(backend: PodmanBackend, ref: str | None = None) -> None:
    printer = PullPrinter()
    target = ref or backend.image
    _err(f"pulling {target}")
    async with contextlib.aclosing(backend.pull(ref)) as stream:
        async for event in stream:
            printer(event)
    printer.done(f"pulled {target}")


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _print_status(status: ServiceStatus) -> None:
    print(f"{status.backend} {status.name}: {status.state.value}")
    if status.state is ServiceState.ABSENT:
        return
    if status.exit_code is not None:
        print(f"  exit code: {status.exit_code}")
    print(f"  image:     {status.image}" + (f" ({status.image_id[:12]})" if status.image_id else ""))
    if status.pid:
        print(f"  pid:       {status.pid}")
    if status.started_at:
        print(
            f"  started:   {status.started_at.isoformat(timespec='seconds')}  (up {_format_uptime(status.uptime_s)})"
        )
    if status.url:
        print(f"  url:       {status.url}")
    for port in status.ports:
        print(f"  port:      {port}")
    if status.network_mode:
        print(f"  network:   {status.network_mode}")
    for mount in status.mounts:
        print(f"  mount:     {mount}")
    if status.gpu_devices:
        print(f"  gpu:       {', '.join(status.gpu_devices)}")
    if status.backend == "container" and not status.managed:
        print("  note:      not created by comfytui (no io.comfytui.managed label)")


def _exit_for_checks(checks: list[PreflightCheck]) -> int:
    failed = blocking_failures(checks)
    if not failed:
        return EXIT_OK
    return EXIT_UNREACHABLE if any(c.name == "podman" for c in failed) else EXIT_BAD_INPUT


# ---------------------------------------------------------------------- handlers
# ``up``, ``down`` and ``restart`` are thin callers of ``LifecycleManager``, the one start path
# the Server screen uses too: they print its events and map its outcome to an exit code.


class _EventPrinter:
    """The manager's events on stderr: notices, preflight problems, pull progress, the changes a
    recreate applies, and the startup phases."""

    def __init__(self, manager: LifecycleManager, prefix: str = "") -> None:
        self.manager = manager
        self.prefix = prefix
        self.pull: PullPrinter | None = None

    def _say(self, text: str) -> None:
        _err("\n".join(self.prefix + line for line in text.split("\n")))

    def __call__(self, event: LifecycleEvent) -> None:
        match event:
            case BusyChanged(busy="pulling"):
                self.pull = PullPrinter()
                self._say(f"pulling {self.manager.image}")
            case PullProgress() if self.pull is not None:
                self.pull(event)
            case Notice(level=level, text=text):
                if self.pull is not None:  # "pulled ...": ends the progress line
                    self.pull.done(text)
                    self.pull = None
                else:
                    self._say(f"comfytui: {level}: {text}")
            case PreflightChecked(checks=checks) if any(not c.ok for c in checks):
                self._say("preflight:")
                for check in checks:
                    if not check.ok:
                        self._say(format_check(check))
            case ChangesFound(changes=changes) if changes:
                self._say(f"the container {self.manager.name!r} differs from the config:")
                for change in changes:
                    self._say(f"  - {change}")
            case PhaseChanged() if event.phase is not Phase.FAILED:
                self._say(format_phase(event))
            case _:
                pass


async def _ask(question: str) -> bool:
    """``_confirm`` in a daemon thread: the loop keeps running, and Ctrl-C does not wait for Enter."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bool] = loop.create_future()

    def read() -> None:
        result = _confirm(question)
        loop.call_soon_threadsafe(lambda: answer.done() or answer.set_result(result))

    threading.Thread(target=read, name="comfytui-confirm", daemon=True).start()
    return await answer


async def _finish(task: asyncio.Task[OperationFinished] | None, manager: LifecycleManager) -> OperationFinished:
    """Await an operation; its failure is raised again (our errors carry their exit code)."""
    if task is None:  # refused: only when the manager has no backend, which raises its reason
        manager.require_backend()
        raise LifecycleError(manager.error or "the operation was refused")
    finished = await task
    if finished.exception is not None and not isinstance(finished.exception, StartupFailed):
        raise finished.exception
    return finished


def _startup_outcome(finished: OperationFinished, manager: LifecycleManager) -> int:
    if finished.ok:
        return EXIT_OK
    if blocking_failures(manager.preflight):
        return _exit_for_checks(manager.preflight)
    _err(f"comfytui: {finished.error}")
    return EXIT_UNREACHABLE


def gpu_list(config: Config) -> tuple[list[str], str]:
    """The GPUs ``up --all`` starts one ComfyUI on, and where the list came from: ``container.gpus``
    when set, else NVML's GPUs, else the indices the CDI specs declare."""
    if config.container.gpus:
        return [str(g) for g in config.container.gpus], "container.gpus"
    from comfytui.core.gpu.sampler import GpuSampler

    sampler = GpuSampler(config.gpu)
    try:
        snapshot = sampler.sample_sync()
    finally:
        sampler.close_sync()
    if snapshot.available and snapshot.gpus:
        return [str(g.index) for g in snapshot.gpus], "NVML"
    names = cdi_gpu_names()
    if names:
        return names, "the CDI spec"
    raise InputError(
        f"up --all: no GPUs found ({snapshot.reason or 'NVML lists none'}; no CDI spec in "
        f"{' or '.join(CDI_DIRS)} declares nvidia.com/gpu=N): set container.gpus or generate the CDI spec"
    )


def _instance_managers(config: Config, gpus: Sequence[str]) -> list[LifecycleManager]:
    return [LifecycleManager(inst.config(config), backend=inst.backend())
            for inst in gpu_instances(config.container, gpus)]


async def _each(managers: Sequence[LifecycleManager], work: Any) -> list[int]:
    """``work(manager)`` for every instance at once; an error is printed with the instance's name."""

    async def one(manager: LifecycleManager) -> int:
        try:
            return int(await work(manager))
        except ComfyTuiError as exc:
            _err(f"comfytui: {manager.name}: {exc}")
            return exc.exit_code

    try:
        return list(await asyncio.gather(*(one(m) for m in managers)))
    finally:
        for manager in managers:
            await manager.aclose()


async def _up_all(args: argparse.Namespace, config: Config) -> int:
    gpus, source = gpu_list(config)
    managers = _instance_managers(config, gpus)
    _err(f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} (from {source}): "
         + ", ".join(f"{m.name} on GPU {g}" for m, g in zip(managers, gpus, strict=True)))
    recreate = args.yes or not sys.stdin.isatty()

    async def up_one(manager: LifecycleManager) -> int:
        manager.require_backend()
        manager.add_listener(_EventPrinter(manager, prefix=f"[{manager.name}] "))

        async def confirm_recreate(changes: Sequence[Change]) -> bool:
            if not recreate:
                _err(f"[{manager.name}] keeping the existing container (run `comfytui up --all --yes` to recreate it)")
            return recreate

        task = manager.start_service(
            pull=args.pull, confirm_recreate=confirm_recreate, startup_timeout_s=args.startup_timeout
        )
        code = _startup_outcome(await _finish(task, manager), manager)
        if code == EXIT_OK:
            print(f"{manager.name} {manager.url}", flush=True)
        return code

    return max(await _each(managers, up_one))


async def _found_instances(config: Config) -> list[LifecycleManager]:
    names = await find_instances(config.container)
    gpus = [g for g in (instance_gpu(n, config.container.name) for n in names) if g is not None]
    return _instance_managers(config, gpus) if gpus else []


async def _down_all(args: argparse.Namespace, config: Config) -> int:
    managers = await _found_instances(config)
    if not managers:
        _err(f"{config.container.name}: no GPU instances to stop (none made by `up --all`)")
        return EXIT_OK

    async def down_one(manager: LifecycleManager) -> int:
        await _finish(manager.stop_service(args.timeout_stop), manager)
        if args.remove:
            await _finish(manager.remove_service(), manager)
        _err(f"{manager.name}: stopped{' and removed' if args.remove else ''}")
        return EXIT_OK

    return max(await _each(managers, down_one))


async def _status_all(args: argparse.Namespace, config: Config) -> int:
    managers = await _found_instances(config)
    managers_order = [m.name for m in managers]
    results: list[dict[str, Any]] = []

    async def status_one(manager: LifecycleManager) -> int:
        status = await manager.require_backend().status()
        health = await server_health(manager.config)
        results.append({"status": status, "health": health})
        return EXIT_OK

    code = max(await _each(managers, status_one), default=EXIT_OK)
    results.sort(key=lambda r: managers_order.index(r["status"].name))  # the GPU order
    if args.json:
        print(json.dumps([{**r["status"].to_json(), "server": r["health"]} for r in results]), flush=True)
    else:
        if not results:
            print(f"{config.container.name}: no GPU instances (start them with `comfytui up --all`)")
        for r in results:
            _print_status(r["status"])
            _print_health(r["health"])
    return code


async def up_handler(args: argparse.Namespace, config: Config) -> int:
    if getattr(args, "all", False):
        return await _up_all(args, config)
    manager = LifecycleManager(config)
    try:
        manager.require_backend()
        manager.add_listener(_EventPrinter(manager))
        interactive = sys.stdin.isatty() and not args.yes

        async def confirm_recreate(changes: Sequence[Change]) -> bool:
            if not interactive or await _ask(f"recreate {manager.name!r} with these changes?"):
                return True
            _err("keeping the existing container (run `comfytui up --yes` to recreate it)")
            return False

        task = manager.start_service(
            pull=args.pull, confirm_recreate=confirm_recreate, startup_timeout_s=args.startup_timeout
        )
        code = _startup_outcome(await _finish(task, manager), manager)
        if code == EXIT_OK:
            print(manager.url, flush=True)
        return code
    finally:
        await manager.aclose()


async def down_handler(args: argparse.Namespace, config: Config) -> int:
    if getattr(args, "all", False):
        return await _down_all(args, config)
    manager = LifecycleManager(config)
    try:
        before = await manager.require_backend().status()
        if before.state is ServiceState.ABSENT:
            _err(f"{manager.name}: nothing to stop (absent)")
            return EXIT_OK
        await _finish(manager.stop_service(args.timeout_stop), manager)
        if args.remove:
            await _finish(manager.remove_service(), manager)
            _err(f"{manager.name}: stopped and removed")
        else:
            _err(f"{manager.name}: stopped")
        return EXIT_OK
    finally:
        await manager.aclose()


async def restart_handler(args: argparse.Namespace, config: Config) -> int:
    manager = LifecycleManager(config)
    try:
        status = await manager.require_backend().status()
        if status.state is ServiceState.ABSENT:
            _err(f"comfytui: {manager.name} does not exist: run `comfytui up`")
            return EXIT_BAD_INPUT
        manager.add_listener(_EventPrinter(manager))
        finished = await _finish(manager.restart_service(args.timeout_stop, wait=not args.no_wait), manager)
        if finished.ok:
            _err(f"{manager.name}: restarted")
        return _startup_outcome(finished, manager)
    finally:
        await manager.aclose()


async def server_health(config: Config) -> dict[str, Any]:
    """What the server itself says: version, queue, devices and the round trip of ``/system_stats``.

    ``{"reachable": False, "error": ...}`` when it does not answer (works for every backend)."""
    from comfytui.core.comfy.client import ComfyClient
    from comfytui.core.errors import ComfyTuiError

    async with ComfyClient(config.server) as client:
        try:
            started = time.monotonic()
            stats = await client.system_stats()
            latency_s = time.monotonic() - started
            queue = await client.queue()
        except ComfyTuiError as exc:
            return {"url": client.display_url, "reachable": False, "error": str(exc)}
    return {
        "url": client.display_url,
        "reachable": True,
        "comfyui_version": stats.comfyui_version,
        "latency_ms": round(latency_s * 1000, 1),
        "queue": {"running": len(queue.running), "pending": len(queue.pending)},
        "devices": [
            {"name": d.name, "type": d.type, "vram_total": d.vram_total, "vram_free": d.vram_free}
            for d in stats.devices
        ],
    }


def _print_health(health: dict[str, Any]) -> None:
    if not health["reachable"]:
        print(f"server {health['url']}: unreachable ({health['error']})")
        return
    queue = health["queue"]
    print(f"server {health['url']}: ComfyUI {health['comfyui_version']}, answered in {health['latency_ms']:g} ms")
    print(f"  queue:     {queue['running']} running, {queue['pending']} pending")
    for device in health["devices"]:
        vram = ""
        if device["vram_total"]:
            vram = f" ({(device['vram_free'] or 0) / 2**30:.1f} of {device['vram_total'] / 2**30:.1f} GiB free)"
        print(f"  device:    {device['name']}{vram}")


async def status_handler(args: argparse.Namespace, config: Config) -> int:
    if getattr(args, "all", False):
        return await _status_all(args, config)
    status: ServiceStatus | None = None
    if config.backend != "none":  # a managed container or process: its state too
        backend = make_backend(config)
        try:
            status = await backend.status()
        finally:
            await backend.close()
    health = await server_health(config)
    if args.json:
        out = status.to_json() if status is not None else {"backend": "none"}
        out["server"] = health
        print(json.dumps(out), flush=True)
    else:
        if status is not None:
            _print_status(status)
        _print_health(health)
    if status is None and not health["reachable"]:
        return EXIT_UNREACHABLE
    return EXIT_OK


async def _server_log_lines(config: Config, follow: bool, since: datetime | None, tail: int | None) -> Any:
    """ComfyUI's own log (``/internal/logs/raw``) when comfytui manages no container or process;
    ``follow`` polls it once a second and prints what is new."""
    from comfytui.core.comfy.client import ComfyClient
    from comfytui.core.lifecycle.types import LogLine

    def when(entry: Any) -> datetime | None:
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(entry.time)
            return value if value.tzinfo else value.astimezone()
        return None

    async with ComfyClient(config.server) as client:
        printed: set[Any] = set()
        first = True
        while True:
            entries = [e for e in (await client.logs_raw()).entries if e not in printed]
            printed.update(entries)
            lines = [
                LogLine(when(e), "stderr", text)
                for e in entries
                if since is None or (when(e) or since) >= since
                for text in e.message.rstrip("\n").split("\n")
            ]
            if first and tail is not None:
                lines = lines[-tail:] if tail else []
            first = False
            for line in lines:
                yield line
            if not follow:
                return
            await asyncio.sleep(1.0)


async def logs_handler(args: argparse.Namespace, config: Config) -> int:
    if args.tail is not None and args.tail < 0:
        raise InputError("--tail must not be negative")
    since = parse_since(args.since) if args.since else None
    backend: Any = make_backend(config) if config.backend != "none" else None
    if getattr(args, "gpu", None) is not None:  # one instance of `up --all`
        backend = gpu_instances(config.container, [args.gpu])[0].backend()
    try:
        source = (
            backend.logs(follow=args.follow, since=since, tail=args.tail)
            if backend is not None
            else _server_log_lines(config, args.follow, since, args.tail)
        )
        async with contextlib.aclosing(source) as stream:
            async for line in stream:
                if args.timestamps and line.time is not None:
                    sys.stdout.write(f"{line.time.isoformat()} {line.text}\n")
                else:
                    sys.stdout.write(line.text + "\n")
                sys.stdout.flush()
    except BrokenPipeError:  # `comfytui logs | head`: stop quietly, and keep Python's exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if backend is not None:
            await backend.close()
    return EXIT_OK


async def pull_handler(args: argparse.Namespace, config: Config) -> int:
    backend = make_backend(config)
    if not isinstance(backend, PodmanBackend):
        raise InputError('`comfytui pull` needs the container backend (backend = "container")')
    try:
        await _pull(backend, args.image)
    finally:
        await backend.close()
    return EXIT_OK


async def preflight_handler(args: argparse.Namespace, config: Config) -> int:
    backend = make_backend(config)
    try:
        if isinstance(backend, PodmanBackend):
            for notice in backend.spec.notices:
                _err(f"comfytui: {notice.level}: {notice.text}")
        checks = await backend.preflight()
    finally:
        await backend.close()
    if args.json:
        print(
            json.dumps(
                [
                    {"name": c.name, "ok": c.ok, "blocking": c.blocking, "message": c.message, "fix": c.fix}
                    for c in checks
                ]
            )
        )
    else:
        print(f"preflight ({backend.kind} {backend.name}):")
        for check in checks:
            print(format_check(check))
    return _exit_for_checks(checks)


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from comfytui.headless.options import add_server_options

    up = sub.add_parser(
        "up", help="preflight, pull if needed, (re)create and start ComfyUI, wait until ready"
    )
    up.add_argument("--pull", action="store_true", help="pull the image even when it is present")
    up.add_argument("-y", "--yes", action="store_true", help="recreate a changed container without asking")
    up.add_argument("--all", action="store_true",
                    help="one container per GPU (NVML, else the CDI spec): NAME-gpuN on consecutive ports")
    up.add_argument(
        "--startup-timeout",
        type=float,
        metavar="S",
        help="startup timeout in seconds (default: the config's)",
    )
    add_server_options(up)
    up.set_defaults(handler=up_handler)

    down = sub.add_parser("down", help="stop ComfyUI (the container is kept unless --remove)")
    down.add_argument("--remove", action="store_true", help="also remove the container")
    down.add_argument("--all", action="store_true", help="every container `up --all` made (one per GPU)")
    down.add_argument("-t", "--time", dest="timeout_stop", type=float, help="seconds before SIGKILL")
    add_server_options(down)
    down.set_defaults(handler=down_handler)

    restart = sub.add_parser("restart", help="restart ComfyUI and wait until it is ready")
    restart.add_argument("-t", "--time", dest="timeout_stop", type=float, help="seconds before SIGKILL")
    restart.add_argument("--no-wait", action="store_true", help="do not wait for HTTP and websocket")
    add_server_options(restart)
    restart.set_defaults(handler=restart_handler)

    status = sub.add_parser(
        "status", help="the server's health (version, queue, devices, latency) and the managed container or process"
    )
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.add_argument("--all", action="store_true",
                        help="every container `up --all` made (--json: a list, one object per GPU)")
    add_server_options(status)
    status.set_defaults(handler=status_handler)

    logs = sub.add_parser("logs", help="ComfyUI's log (container or process; else the server's own log)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--since", metavar="T", help="only lines since T (30s, 10m, 2h, a Unix or ISO time)")
    logs.add_argument("--tail", "-n", type=int, metavar="N", help="only the last N lines")
    logs.add_argument("--timestamps", action="store_true", help="prefix lines with their time when known")
    logs.add_argument("--gpu", metavar="N", help="the log of NAME-gpuN, made by `up --all`")
    add_server_options(logs)
    logs.set_defaults(handler=logs_handler)

    pull = sub.add_parser("pull", help="pull the container image (progress on stderr)")
    pull.add_argument("image", nargs="?", help="image reference (default: the config's image:tag)")
    add_server_options(pull)
    pull.set_defaults(handler=pull_handler)

    preflight = sub.add_parser(
        "preflight", help="check podman, image, port, GPU (CDI), mounts before starting"
    )
    preflight.add_argument("--json", action="store_true", help="the checks as a JSON list")
    add_server_options(preflight)
    preflight.set_defaults(handler=preflight_handler)


__all__ = ["add_commands", "parse_since"]
