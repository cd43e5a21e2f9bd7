"""Prometheus metrics (docs/METRICS.md): what comfytui knows about its servers, queue and GPUs.

A ``MetricsExporter`` refreshes a plain snapshot on the event loop (``refresh``: async HTTP to
each server, store reads on the store's thread, one GPU sample) and a prometheus_client collector
turns the latest snapshot into metric families when scraped (on the HTTP server's thread, which
never touches the network, the store or NVML). Families are prefixed ``comfytui_``, use base units
(seconds, bytes, ratios 0..1, celsius, watts), counters end in ``_total``, and no label carries a
job id.

``parse_listen`` and ``is_loopback_host`` decide where the endpoint listens: loopback unless the
caller allows remote scrapers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError, InputError
from comfytui.core.store.db import FINISHED, HistoryFilter, Store, server_key

log = logging.getLogger(__name__)

DURATION_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
DEFAULT_PORT = 9464
"""The port when ``--listen`` names only a host."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (loopback) -> (host, port)."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(DEFAULT_PORT)
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}") from None
    if not 0 <= port < 65536:
        raise InputError(f"--listen {text!r}: {port} is not a TCP port")
    return host, port


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "ip6-localhost") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerState:
    """One server at the last refresh."""

    name: str
    url: str
    up: bool = False
    version: str = ""
    reconnects: int = 0
    malformed: int = 0
    pending: int = 0
    running: int = 0
    vram: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    """(device name, total bytes, free bytes) as ComfyUI's /system_stats reports them."""


@dataclass
class Snapshot:
    servers: list[ServerState] = field(default_factory=list)
    local: dict[str, int] = field(default_factory=dict)
    """Jobs waiting in the local queue, by store server key (a fleet's pool included)."""
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)
    """(server key, finished state) -> jobs."""
    durations: dict[str, list[float]] = field(default_factory=dict)
    """server key -> durations (s) of finished jobs."""
    decisions: dict[tuple[str, str], int] = field(default_factory=dict)
    gpus: list[Any] = field(default_factory=list)
    """``GpuInfo`` of the last sample (empty without NVML)."""
    gpu_available: bool = False


class _Follower:
    """One server followed by polling: up, version, reconnects (down -> up after having been up)."""

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.client = ComfyClient(config.server)
        self.malformed = 0
        self.client.on_malformed = self._count_malformed
        self.state = ServerState(name, server_key(config.server.url))
        self._was_up = False
        self._was_down_after_up = False

    def _count_malformed(self, *_args: Any) -> None:
        self.malformed += 1

    async def refresh(self) -> ServerState:
        state = self.state
        try:
            stats = await self.client.system_stats()
            queue = await self.client.queue()
        except ComfyTuiError:
            if self._was_up:
                self._was_down_after_up = True
            state.up = False
            state.pending = state.running = 0
            return state
        if self._was_down_after_up:
            state.reconnects += 1
            self._was_down_after_up = False
        self._was_up = True
        state.up = True
        state.version = stats.comfyui_version
        state.pending, state.running = len(queue.pending), len(queue.running)
        state.vram = [(d.name, d.vram_total, d.vram_free) for d in stats.devices if d.vram_total]
        state.malformed = self.malformed
        return state


class MetricsExporter:
    """Refreshes the snapshot; ``registry`` serves it. ``servers``: (name, config) per server.

    ``sessions_by_server`` (name -> a live ``ComfySession``) lets a daemon add the counts only a
    session has (malformed messages, reconnects of the websocket); ``decisions`` returns the
    fleet's dispatch decisions ((server, reason) -> count)."""

    def __init__(
        self,
        servers: list[tuple[str, Config]],
        store: Store,
        *,
        gpu_sampler: Any | None = None,
        sessions_by_server: Callable[[], Mapping[str, Any]] | None = None,
        decisions: Callable[[], Mapping[tuple[str, str], int]] | None = None,
    ) -> None:
        self.followers = [_Follower(name, cfg) for name, cfg in servers]
        self.store = store
        self.gpu_sampler = gpu_sampler
        self.sessions_by_server = sessions_by_server
        self.decisions = decisions
        self.snapshot = Snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    async def refresh(self) -> Snapshot:
        servers = list(await asyncio.gather(*(f.refresh() for f in self.followers)))
        sessions = dict(self.sessions_by_server() if self.sessions_by_server else {})
        for state in servers:
            session = sessions.get(state.name)
            if session is not None:  # a live session counts what polling cannot see
                state.malformed = max(state.malformed, int(getattr(session, "malformed_count", 0)))
        local, outcomes, durations = await self.store.call(self._read_store)
        snap = Snapshot(servers=servers, local=local, outcomes=outcomes, durations=durations,
                        decisions=dict(self.decisions() if self.decisions else {}))
        if self.gpu_sampler is not None:
            try:
                gpu = await self.gpu_sampler.sample()
            except Exception as exc:  # noqa: BLE001 - a GPU failure costs the GPU families, not the endpoint
                log.warning("GPU sample failed: %s", exc)
            else:
                snap.gpu_available = gpu.available
                snap.gpus = list(gpu.gpus)
        self.snapshot = snap  # one reference swap: the scrape thread sees a whole snapshot
        return snap

    def _read_store(self) -> tuple[dict[str, int], dict[tuple[str, str], int], dict[str, list[float]]]:
        local: Counter[str] = Counter(j.server for j in self.store.queue_rows() if j.state == "queued")
        outcomes: Counter[tuple[str, str]] = Counter()
        durations: dict[str, list[float]] = {}
        for job in self.store.history(HistoryFilter(foreign=False, limit=100_000)):
            outcomes[(job.server, job.state)] += 1
            if job.duration_s is not None and job.state in FINISHED:
                durations.setdefault(job.server, []).append(job.duration_s)
        return dict(local), dict(outcomes), durations

    async def run(self, interval_s: float = 2.0) -> None:
        """Refresh until cancelled."""
        while True:
            with contextlib.suppress(ComfyTuiError):
                await self.refresh()
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        for follower in self.followers:
            await follower.client.aclose()

    def names(self) -> dict[str, str]:
        """store server key -> server name (for the ``server`` label)."""
        return {f.state.url: f.name for f in self.followers}


def serve(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Start the HTTP endpoint (``/metrics``) on a thread; returns the server (``shutdown()`` stops it)."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


class _Collector(Collector):
    def __init__(self, exporter: MetricsExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        snap = self.exporter.snapshot
        names = self.exporter.names()

        def label(key: str) -> str:
            return names.get(key, key)

        up = GaugeMetricFamily("comfytui_server_up", "1 when the ComfyUI server answers, else 0.", labels=["server"])
        info = GaugeMetricFamily("comfytui_server_info", "The server's URL and ComfyUI version (value 1).",
                                 labels=["server", "url", "version"])
        reconnects = CounterMetricFamily("comfytui_server_reconnects", "Times the server came back after being unreachable.",
                                         labels=["server"])
        malformed = CounterMetricFamily("comfytui_server_malformed_messages",
                                        "Messages or entries from the server skipped as malformed.", labels=["server"])
        depth = GaugeMetricFamily("comfytui_queue_jobs", "Jobs waiting or running, by where they are.", labels=["server", "state"])
        vram_total = GaugeMetricFamily("comfytui_comfyui_vram_total_bytes", "Device memory as ComfyUI reports it.",
                                       labels=["server", "device"])
        vram_free = GaugeMetricFamily("comfytui_comfyui_vram_free_bytes", "Free device memory as ComfyUI reports it.",
                                      labels=["server", "device"])
        for s in snap.servers:
            up.add_metric([s.name], 1.0 if s.up else 0.0)
            info.add_metric([s.name, s.url, s.version or "unknown"], 1.0)
            reconnects.add_metric([s.name], s.reconnects)
            malformed.add_metric([s.name], s.malformed)
            depth.add_metric([s.name, "pending"], s.pending)
            depth.add_metric([s.name, "running"], s.running)
            for device, total, free in s.vram:
                vram_total.add_metric([s.name, device], float(total or 0))
                if free is not None:
                    vram_free.add_metric([s.name, device], float(free))
        for key, count in sorted(snap.local.items()):
            depth.add_metric([label(key), "local"], count)
        for s in snap.servers:
            if s.url not in snap.local:
                depth.add_metric([s.name, "local"], 0)
        jobs = CounterMetricFamily("comfytui_jobs", "Jobs of ours that finished, by outcome.", labels=["server", "outcome"])
        for (key, outcome), count in sorted(snap.outcomes.items()):
            jobs.add_metric([label(key), outcome], count)
        durations = HistogramMetricFamily("comfytui_job_duration_seconds", "How long finished jobs ran.", labels=["server"])
        for key, values in sorted(snap.durations.items()):
            buckets = [(_le(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS_S]
            buckets.append(("+Inf", len(values)))
            durations.add_metric([label(key)], buckets, sum(values))
        decisions = CounterMetricFamily("comfytui_dispatch_decisions", "Fleet routing decisions, by server and reason.",
                                        labels=["server", "reason"])
        for (server, reason), count in sorted(snap.decisions.items()):
            decisions.add_metric([server or "none", reason], count)
        yield from (up, info, reconnects, malformed, depth, jobs, durations, decisions, vram_total, vram_free)
        yield from _gpu_families(snap)


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


def _gpu_families(snap: Snapshot) -> Iterable[Any]:
    if not snap.gpus:
        return []
    labels = ["gpu", "uuid", "model_name"]
    util = GaugeMetricFamily("comfytui_gpu_utilization_ratio", "Fraction of time a kernel ran (0..1).", labels=labels)
    used = GaugeMetricFamily("comfytui_gpu_memory_used_bytes", "GPU memory in use.", labels=labels)
    total = GaugeMetricFamily("comfytui_gpu_memory_total_bytes", "GPU memory in all.", labels=labels)
    temp = GaugeMetricFamily("comfytui_gpu_temperature_celsius", "GPU temperature.", labels=labels)
    power = GaugeMetricFamily("comfytui_gpu_power_watts", "GPU power draw.", labels=labels)
    for g in snap.gpus:
        values = [str(g.index), g.uuid or "", g.name or ""]
        for family, value in ((util, None if g.util_gpu is None else g.util_gpu / 100.0), (used, g.memory_used),
                              (total, g.memory_total), (temp, g.temperature_c), (power, g.power_w)):
            if value is not None:  # a field the GPU cannot give is absent, not a fake 0
                family.add_metric(values, float(value))
    return [util, used, total, temp, power]
