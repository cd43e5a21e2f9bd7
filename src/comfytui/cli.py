"""``comfytui``: the dashboard with no subcommand, the headless CLI with one.

Headless commands never import Textual: the TUI package is imported only when the dashboard
opens. Each command module adds its subcommands through ``add_commands(subparsers)`` and is
listed in ``COMMANDS`` (name and help line, so ``--help`` imports none of them); a command's
handler is ``async def handler(args, config) -> int`` (an exit code).

Exit codes: 0 success, 1 a job failed or was interrupted, 2 bad input (file, workflow,
arguments, config), 3 server (or podman) unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from comfytui import __version__
from comfytui.core.config import Config, load_config
from comfytui.core.errors import EXIT_BAD_INPUT, ComfyTuiError
from comfytui.core.logs import strip_controls
from comfytui.core.redaction import redact
from comfytui.headless.options import add_server_options

# Every command, in help order: (the module that defines it, its name, its help line). Only the
# module of the command being run is imported (start-up time); ``comfytui --help`` and an unknown
# command are answered from this table alone. tests/headless/test_cli_commands.py keeps it equal
# to what the modules define.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("comfytui.headless.run_cmd", "run", "queue a workflow (API or editor JSON, or a PNG/WebP with an embedded workflow)"),
    ("comfytui.headless.workflow_cmds", "workflow", "convert editor-format workflows to API prompts; list every workflow source"),
    ("comfytui.headless.lifecycle_cmds", "up", "preflight, pull if needed, (re)create and start ComfyUI, wait until ready"),
    ("comfytui.headless.lifecycle_cmds", "down", "stop ComfyUI (the container is kept unless --remove)"),
    ("comfytui.headless.lifecycle_cmds", "restart", "restart ComfyUI and wait until it is ready"),
    ("comfytui.headless.lifecycle_cmds", "status",
     "the server's health (version, queue, devices, latency) and the managed container or process"),
    ("comfytui.headless.lifecycle_cmds", "logs", "ComfyUI's log (container or process; else the server's own log)"),
    ("comfytui.headless.lifecycle_cmds", "pull", "pull the container image (progress on stderr)"),
    ("comfytui.headless.lifecycle_cmds", "preflight", "check podman, image, port, GPU (CDI), mounts before starting"),
    ("comfytui.headless.gpu_cmds", "gpu", "GPUs, VRAM and the processes using them (NVML + /system_stats)"),
    ("comfytui.headless.gpu_cmds", "free", "ask ComfyUI to unload models and free memory (POST /free)"),
    ("comfytui.headless.models_cmds", "models", "list model files with sizes, flags and (on demand) sha256"),
    ("comfytui.headless.queue_cmds", "queue", "the local queue: list, pause, resume, hold, move, cancel..."),
    ("comfytui.headless.queue_cmds", "history", "finished jobs (ours and other clients'), from the store"),
    ("comfytui.headless.queue_cmds", "wait", "wait for jobs queued earlier; the exit code says how they ended"),
    ("comfytui.headless.queue_cmds", "daemon", "run the queue's dispatcher in the foreground (tmux, systemd --user)"),
    ("comfytui.headless.metrics_cmds", "metrics", "serve Prometheus metrics (servers, queue, jobs, GPUs) on /metrics"),
    ("comfytui.headless.config_cmds", "config", "where the config file lives; write a commented starter"),
)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    module: tuple(name for owner, name, _help in COMMANDS if owner == module) for module, _name, _help in COMMANDS
}
"""Module -> the commands it defines, in help order."""

_TAKES_VALUE = frozenset({"--url", "--server", "-H", "--header", "--timeout", "--config"})


def _modules_for(argv: Sequence[str]) -> list[str] | None:
    """The command modules to import for this command line: [] for the dashboard, None when the
    table alone answers it (top-level ``--help``, an unknown command)."""
    commands = {name: module for module, name, _help in COMMANDS}
    previous = ""
    for token in argv:
        if token in ("-h", "--help"):
            return None
        if token in commands and previous not in _TAKES_VALUE:
            return [commands[token]]
        if not token.startswith("-") and previous not in _TAKES_VALUE:
            return None  # an unknown command: the error lists the real ones
        previous = token
    return []  # no command: the dashboard


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep the message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command modules that line needs are imported."""
    parser = _Parser(
        prog="comfytui",
        description="A keyboard-driven terminal dashboard for ComfyUI. With no command, opens the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"comfytui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $COMFYTUI_CONFIG or the XDG path)")
    add_server_options(parser, top_level=True)
    parser.add_argument("--readonly", action="store_true", help="dashboard: disable actions that change anything")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = list(COMMAND_MODULES) if argv is None else _modules_for(argv)
    if modules is None:
        for _module, name, help_line in COMMANDS:  # names and help lines only: nothing to run
            sub.add_parser(name, help=help_line, add_help=False)
    else:
        for module in modules:
            importlib.import_module(module).add_commands(sub)
    return parser


def apply_cli_overrides(config: Config, args: argparse.Namespace) -> Config:
    """Command-line options win over the environment and the file."""
    if getattr(args, "server_name", None):  # --server NAME: a [servers.NAME] of the config
        config = config.select_server(args.server_name)
    changes: dict[str, object] = {}
    if getattr(args, "url", None):
        changes["url"] = args.url.rstrip("/")
    if getattr(args, "timeout", None):
        changes["timeout_s"] = args.timeout
    headers = getattr(args, "header", None)
    if headers:
        parsed = dict(config.server.headers)
        for raw in headers:
            name, sep, value = raw.partition(":")
            if not sep or not name.strip():
                raise ComfyTuiError("--header must look like 'Name: value' (got a value without a colon)")
            parsed[name.strip()] = value.strip()
        changes["headers"] = parsed
    return config.with_server(**changes) if changes else config


def dashboard_servers(args: argparse.Namespace, config: Config) -> list[tuple[str, Config]] | None:
    """The servers the dashboard's strip shows (docs/FLEET.md): every ``--url`` when there are
    several, else every configured server (``--server NAME`` only picks the current one), each
    with the command line's ``--timeout`` and ``-H``; None with a single ``--url`` (one server)."""
    from urllib.parse import urlsplit

    from comfytui.headless.options import server_urls

    urls = server_urls(args)
    if len(urls) > 1:
        return [(urlsplit(u).netloc or u, config.with_server(url=u)) for u in urls]
    if urls or len(config.servers) < 2:
        return None
    return [
        (p.name, apply_cli_overrides(config, argparse.Namespace(**{**vars(args), "server_name": p.name, "url": None})))
        for p in config.fleet()
    ]


class RedactingStream:
    """A text stream that redacts every write (URL passwords, ``?token=``, auth header values):
    the headless commands' stdout and stderr go through it, so no output path can print a
    secret, whichever module prints. Everything else (``isatty``, ``fileno``...) is the stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class OneLineFormatter(logging.Formatter):
    """``comfytui: warning: <message>`` on one line: redacted, terminal controls stripped, newlines
    folded, an exception shown as its type and message (never a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format in a log call must not become a traceback
            message = f"{record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += f" ({type(exc).__name__}: {exc})"
        text = " ".join(strip_controls(redact(message)).split())
        return f"comfytui: {record.levelname.lower()}: {text[:2000]}"


@contextlib.contextmanager
def headless_output() -> Iterator[None]:
    """For one headless command: stdout and stderr redacted, and Python logging (warnings and
    up, ``warnings.warn`` too) as one clean line each on stderr. Undone afterwards (``main`` is
    also called in-process)."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter())
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
        sys.stdout, sys.stderr = saved


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        return _main(args)
    with headless_output():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        config = apply_cli_overrides(load_config(args.config), args)
    except ComfyTuiError as exc:
        if getattr(args, "loads_config", True):
            print(f"comfytui: {exc}", file=sys.stderr)
            return exc.exit_code
        config = None  # `config path|init` must work while the file is broken
    if args.command is None:
        from comfytui.tui import run_dashboard  # imported late: headless commands never load Textual

        return run_dashboard(config, readonly=args.readonly, servers=dashboard_servers(args, config))
    try:
        return asyncio.run(args.handler(args, config))
    except ComfyTuiError as exc:
        print(f"comfytui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("comfytui: interrupted", file=sys.stderr)
        return 130
    except RecursionError:  # a pathological input no check caught: still one line, still exit 2
        print("comfytui: the input is nested too deeply to process", file=sys.stderr)
        return EXIT_BAD_INPUT
