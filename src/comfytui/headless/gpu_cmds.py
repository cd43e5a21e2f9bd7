"""``comfytui gpu`` (GPUs and their processes) and ``comfytui free`` (POST /free).

``gpu`` shows NVML's view (per GPU, per process with its container) next to the server's own
``/system_stats`` devices. Without NVML it prints why and the server's devices: exit 0 when the
server answered, 3 when neither NVML nor the server could be had.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.types import FreeResult, SystemStats
from comfytui.core.config import Config
from comfytui.core.errors import EXIT_JOB_FAILED, EXIT_OK, EXIT_UNREACHABLE, ComfyTuiError
from comfytui.core.gpu.containers import PodmanNames
from comfytui.core.gpu.feed import GpuFeed
from comfytui.core.gpu.sampler import GpuSampler, GpuSnapshot
from comfytui.core.lifecycle.podman_backend import socket_candidates
from comfytui.core.models.catalog import format_bytes
from comfytui.headless.options import add_server_options


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    gpu = subparsers.add_parser("gpu", help="GPUs, VRAM and the processes using them (NVML + /system_stats)")
    add_server_options(gpu)
    gpu.add_argument("--json", action="store_true", help="machine-readable output (one JSON document per sample)")
    gpu.add_argument("--watch", action="store_true", help="sample again every interval until Ctrl-C")
    gpu.add_argument("--interval", type=float, metavar="S", help="seconds between samples with --watch "
                     "(default: [gpu] interval_s)")
    gpu.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N samples")
    gpu.set_defaults(handler=gpu_handler)

    free = subparsers.add_parser("free", help="ask ComfyUI to unload models and free memory (POST /free)")
    add_server_options(free)
    free.add_argument("--unload-models", action="store_true",
                      help="only unload models (keep the node cache); default: unload models and clear the cache")
    free.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    free.add_argument("--json", action="store_true", help="machine-readable output")
    free.set_defaults(handler=free_handler)


# ---------------------------------------------------------------------------------------------
# plain text tables


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> list[str]:
    cells = [[str(c) for c in headers], *[["-" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]


def _pct(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _watts(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} W"


def format_snapshot(snapshot: GpuSnapshot) -> list[str]:
    if not snapshot.available:
        return [snapshot.reason]
    lines = [f"NVML: driver {snapshot.driver_version or '?'}, {len(snapshot.gpus)} GPU(s)"]
    if not snapshot.gpus:
        return lines
    rows = []
    for g in snapshot.gpus:
        mem = (f"{format_bytes(g.memory_used)} / {format_bytes(g.memory_total)}"
               if g.memory_total is not None else "-")
        power = _watts(g.power_w) + (f" / {_watts(g.power_limit_w)}" if g.power_limit_w is not None else "")
        rows.append([g.index, g.name or "?", _pct(g.util_gpu), _pct(g.memory_percent), mem,
                     "-" if g.temperature_c is None else f"{g.temperature_c}C", power, _pct(g.fan_percent)])
    lines += _table(["GPU", "NAME", "UTIL", "MEM%", "MEMORY", "TEMP", "POWER", "FAN"], rows)
    for g in snapshot.gpus:
        lines += [f"  gpu {g.index}: {e}" for e in g.errors]
    procs = [p for g in snapshot.gpus for p in g.processes]
    lines.append("")
    if not procs:
        lines.append("No processes are using the GPUs.")
        return lines
    lines.append("Processes:")
    lines += _table(
        ["GPU", "PID", "MEMORY", "KIND", "OWNER", "NAME"],
        [[p.gpu_index, p.pid, format_bytes(p.used_memory), p.kind, p.owner, p.name or "?"] for p in procs],
    )
    return lines


def format_server(url: str, stats: SystemStats | None, error: str | None) -> list[str]:
    if stats is None:
        return [f"Server {url}: {error}"]
    lines = [f"Server {url}: ComfyUI {stats.comfyui_version or '?'}, pytorch {stats.pytorch_version or '?'}, "
             f"RAM free {format_bytes(stats.ram_free)} of {format_bytes(stats.ram_total)}"]
    rows = [[d.name, d.type, d.index,
             f"{format_bytes(d.vram_free)} / {format_bytes(d.vram_total)}",
             f"{format_bytes(d.torch_vram_free)} / {format_bytes(d.torch_vram_total)}"] for d in stats.devices]
    if rows:
        lines += _table(["DEVICE", "TYPE", "INDEX", "VRAM FREE / TOTAL", "TORCH VRAM FREE / TOTAL"], rows, "  ")
    return lines


async def _sample(feed: GpuFeed, info: ComfyClient) -> tuple[GpuSnapshot, SystemStats | None, str | None]:
    async def server() -> tuple[SystemStats | None, str | None]:
        try:
            return await info.system_stats(), None
        except ComfyTuiError as exc:
            return None, exc.message

    # one NVML sample per interval: the feed names containers into that same snapshot
    snapshot, (stats, error) = await asyncio.gather(feed.sample(), server())
    return snapshot, stats, error


def _gpu_json(url: str, snapshot: GpuSnapshot, stats: SystemStats | None, error: str | None) -> dict[str, Any]:
    return {
        "nvml": snapshot.to_dict(),
        "server": {"url": url, "ok": stats is not None, "error": error,
                   "system_stats": stats.to_dict() if stats else None},
    }


async def gpu_handler(args: argparse.Namespace, config: Config) -> int:
    feed = GpuFeed(GpuSampler(config.gpu), container_names=PodmanNames(socket_candidates(config.container.socket)))
    interval = args.interval if args.interval is not None else config.gpu.interval_s
    url = config.server.url
    code = EXIT_OK
    count = 0
    try:
        async with ComfyClient(config.server) as info:
            while True:
                started = time.monotonic()
                snapshot, stats, error = await _sample(feed, info)
                code = EXIT_OK if snapshot.available or stats is not None else EXIT_UNREACHABLE
                if args.json:
                    print(json.dumps(_gpu_json(url, snapshot, stats, error), indent=None if args.watch else 2),
                          flush=True)
                else:
                    if args.watch and sys.stdout.isatty():
                        print("\x1b[H\x1b[2J", end="")
                    lines = format_snapshot(snapshot)
                    lines += [""] + format_server(url, stats, error)
                    if args.watch:
                        lines.append(time.strftime("\n%H:%M:%S", time.localtime()) + f"  every {interval:g}s, Ctrl-C to stop")
                    print("\n".join(lines), flush=True)
                count += 1
                if not args.watch or (args.count and count >= args.count):
                    break
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    except asyncio.CancelledError:  # Ctrl-C ends --watch normally
        if not args.watch:
            raise
    finally:
        await feed.stop()
    return code


# ---------------------------------------------------------------------------------------------
# free


def format_free(url: str, result: FreeResult) -> list[str]:
    body = json.dumps({"unload_models": result.unload_models, "free_memory": result.free_memory})
    lines = [f"POST {url}/free {body}: HTTP {result.status}" + (f" {result.reply.strip()}" if result.reply.strip()
                                                               else " (empty reply)")]
    rows = [[d["device"], f"{format_bytes(d['vram_free_before'])} -> {format_bytes(d['vram_free_after'])}",
             f"{format_bytes(d['torch_vram_free_before'])} -> {format_bytes(d['torch_vram_free_after'])}"]
            for d in result.device_changes()]
    if rows:
        lines += _table(["DEVICE", "VRAM FREE BEFORE -> AFTER", "TORCH VRAM FREE BEFORE -> AFTER"], rows)
    if result.before is not None or result.after is not None:
        before = result.before.ram_free if result.before else None
        after = result.after.ram_free if result.after else None
        lines.append(f"RAM free: {format_bytes(before)} -> {format_bytes(after)}")
    return lines


async def free_handler(args: argparse.Namespace, config: Config) -> int:
    unload, free = (True, False) if args.unload_models else (True, True)
    what = "unload all models" + ("" if args.unload_models else " and clear the node cache")
    if not args.yes and sys.stdin.isatty():
        answer = await asyncio.to_thread(input, f"{what.capitalize()} on {config.server.url}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing done.", file=sys.stderr)
            return EXIT_JOB_FAILED
    async with ComfyClient(config.server) as info:
        result = await info.free(unload_models=unload, free_memory=free)
    if args.json:
        print(json.dumps({"url": config.server.url, **result.to_dict()}, indent=2))
    else:
        print("\n".join(format_free(config.server.url, result)))
    return EXIT_OK
