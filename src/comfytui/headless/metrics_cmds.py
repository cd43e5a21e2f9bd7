"""``comfytui metrics``: a Prometheus endpoint for the servers, the local queue and the GPUs.

``--listen HOST:PORT`` (default ``127.0.0.1:9464``) serves ``/metrics``; a non-loopback address is
refused unless ``--allow-remote`` is given (then with a warning: the endpoint has no
authentication). ``comfytui daemon --metrics ADDR`` serves the same families from the daemon,
with its fleet's dispatch decisions. The families are listed in docs/METRICS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from comfytui.core.config import Config
from comfytui.core.errors import EXIT_OK, InputError
from comfytui.headless.options import add_server_options, fleet_members

DEFAULT_LISTEN = "127.0.0.1:9464"


def add_commands(sub: argparse._SubParsersAction) -> None:
    metrics = sub.add_parser("metrics", help="serve Prometheus metrics (servers, queue, jobs, GPUs) on /metrics")
    add_server_options(metrics)
    add_listen_options(metrics, "--listen", default=DEFAULT_LISTEN)
    metrics.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (default 2)")
    metrics.set_defaults(handler=handle_metrics)


def add_listen_options(parser: argparse.ArgumentParser, flag: str, default: str | None) -> None:
    parser.add_argument(flag, dest="metrics_listen", default=default, metavar="HOST:PORT",
                        help=f"where /metrics listens (loopback only without --allow-remote){'; default ' + default if default else ''}")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback listen address (the endpoint has no authentication)")


def metric_servers(args: argparse.Namespace, config: Config) -> list[tuple[str, Config]]:
    """The servers to report: the fleet (several --url, or [servers.*]) or the one server."""
    return fleet_members(args, config) or [(config.selected_server, config)]


def listen_address(text: str, allow_remote: bool) -> tuple[str, int]:
    from comfytui.core.metrics import is_loopback_host, parse_listen

    host, port = parse_listen(text)
    if not is_loopback_host(host):
        if not allow_remote:
            raise InputError(f"refusing to serve metrics on {host}: not a loopback address "
                             "(add --allow-remote to expose them; the endpoint has no authentication)")
        print(f"comfytui: warning: metrics are served on {host}:{port} to anyone who can reach it "
              "(no authentication)", file=sys.stderr)
    return host, port


async def serve_metrics(
    args: argparse.Namespace, config: Config, *, interval_s: float = 2.0,
    sessions_by_server: Callable[[], Mapping[str, Any]] | None = None,
    decisions: Callable[[], Mapping[tuple[str, str], int]] | None = None,
) -> tuple[Any, Any, asyncio.Task[None]]:
    """Start the exporter: (exporter, HTTP server, refresh task). Stop with ``stop_metrics``."""
    from comfytui.core.gpu.sampler import GpuSampler
    from comfytui.core.metrics import MetricsExporter, serve
    from comfytui.core.store.db import open_store

    host, port = listen_address(args.metrics_listen, args.allow_remote)
    sampler = GpuSampler(config.gpu) if config.gpu.enabled else None
    exporter = MetricsExporter(metric_servers(args, config), open_store(), gpu_sampler=sampler,
                               sessions_by_server=sessions_by_server, decisions=decisions)
    await exporter.refresh()
    try:
        server = await asyncio.to_thread(serve, exporter.registry, host, port)
    except OSError as exc:
        await exporter.aclose()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    task = asyncio.create_task(exporter.run(interval_s), name="comfytui-metrics")
    print(f"comfytui: metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    return exporter, server, task


async def stop_metrics(exporter: Any, server: Any, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    await asyncio.to_thread(server.shutdown)
    await exporter.aclose()
    if exporter.gpu_sampler is not None:
        await exporter.gpu_sampler.close()


async def handle_metrics(args: argparse.Namespace, config: Config) -> int:
    if args.interval <= 0:
        raise InputError("--interval must be greater than 0")
    exporter, server, task = await serve_metrics(args, config, interval_s=args.interval)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await stop_metrics(exporter, server, task)
    return EXIT_OK
