"""``GpuFeed``: the application's one GPU sampler, its latest snapshot, and its subscribers.

A UI (the dashboard, the GPU screen) or the headless ``gpu --watch`` owns one feed::

    feed = GpuFeed(GpuSampler(config.gpu), container_names=PodmanNames(sockets))
    feed = GpuFeed(lambda: GpuSampler(config.gpu))  # or: the sampler (and its module) made on first use
    unsubscribe = feed.subscribe(on_snapshot)   # called on the event loop after every sample
    feed.start()                                # sample every interval in an asyncio task
    feed.set_live(False)                        # idle: sample every idle_interval_s instead (if set)
    feed.latest                                 # the last snapshot (None before the first)
    await feed.sample()                         # one sample now (also tells the subscribers)
    await feed.stop()                           # end the loop, shut NVML down (in a thread)

Exactly one NVML sample is taken per ``sample()``: container names are looked up (at most every
``lookup_every_s`` while an id is unknown) and filled into that same snapshot, so the sampler's
history gets one point per interval however many views listen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from comfytui.core.gpu.containers import match_container

if TYPE_CHECKING:  # the sampler's module is imported by whoever builds a sampler (start-up time)
    from comfytui.core.gpu.sampler import GpuSampler, GpuSnapshot

log = logging.getLogger(__name__)

NAME_LOOKUP_EVERY_S = 30.0
"""How often unknown container ids may send the feed to the podman API for their names."""

ContainerNameSource = Callable[[], Awaitable[Mapping[str, str]]]
"""``await source()`` → {container id: name}; ``containers.PodmanNames`` is the real one."""

Listener = Callable[["GpuSnapshot"], None]


def name_containers(snapshot: GpuSnapshot, names: Mapping[str, str]) -> GpuSnapshot:
    """``snapshot`` with container names filled in from ``names`` ({id: name}); NVML is not asked again."""
    if not names:
        return snapshot
    gpus = []
    changed = False
    for gpu in snapshot.gpus:
        procs = []
        for proc in gpu.processes:
            if proc.container_id and not proc.container_name:
                name = match_container(proc.container_id, names)
                if name:
                    proc = dataclasses.replace(proc, container_name=name)
                    changed = True
            procs.append(proc)
        gpus.append(dataclasses.replace(gpu, processes=tuple(procs)))
    return dataclasses.replace(snapshot, gpus=tuple(gpus)) if changed else snapshot


class GpuFeed:
    """One sampler for the whole app, its latest snapshot, and who wants to hear of new ones."""

    def __init__(self, sampler: GpuSampler | Callable[[], GpuSampler], *, container_names: ContainerNameSource | None = None,
                 lookup_every_s: float = NAME_LOOKUP_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 idle_interval_s: float | None = None) -> None:
        """``idle_interval_s``: the loop's slower period while not ``live`` (nothing runs, nobody
        watches the GPU view); None samples every ``interval_s`` always. ``sampler``: the sampler,
        or a function that makes it when it is first needed (the dashboard: after its first frame)."""
        self._sampler: GpuSampler | None = sampler if hasattr(sampler, "sample") else None  # type: ignore[assignment]
        self._make_sampler = None if self._sampler is not None else sampler
        self.idle_interval_s = idle_interval_s
        self.live = True
        self._wake: asyncio.Event | None = None
        self.container_names = container_names
        self.lookup_every_s = lookup_every_s
        self.latest: GpuSnapshot | None = None
        self.sampled_at = float("-inf")
        """``clock()`` of the last sample."""
        self.name_lookups = 0
        """How many times container names were looked up (tests and the debug screen read it)."""
        self._clock = clock
        self._listeners: list[Listener] = []
        self._names_looked_up_at = float("-inf")
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def sampler(self) -> GpuSampler:
        if self._sampler is None:
            self._sampler = self._make_sampler()  # type: ignore[misc]
        return self._sampler

    @property
    def interval_s(self) -> float:
        return max(0.05, self.sampler.interval_s)

    @property
    def period_s(self) -> float:
        """The loop's current period."""
        if self.live or self.idle_interval_s is None:
            return self.interval_s
        return max(self.interval_s, self.idle_interval_s)

    def set_live(self, live: bool) -> None:
        """Live: sample every ``interval_s``; else every ``idle_interval_s``. Going live samples at once."""
        if live and not self.live and self._wake is not None:
            self._wake.set()
        self.live = live

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(snapshot)`` (on the event loop) after every sample; returns the unsubscriber."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def set_comfyui_pids(self, pids: Any) -> None:
        """The bare-metal ComfyUI's PIDs (NVML lists host PIDs; its children count too)."""
        self.sampler.set_comfyui_pids(pids)

    async def sample(self) -> GpuSnapshot:
        """Sample once (NVML runs in a thread), name unknown containers, tell the subscribers."""
        async with self._lock:
            snapshot = await self.sampler.sample()
            unknown = {p.container_id for g in snapshot.gpus for p in g.processes
                       if p.container_id and not p.container_name}
            now = self._clock()
            if unknown and self.container_names is not None and now - self._names_looked_up_at >= self.lookup_every_s:
                self._names_looked_up_at = now
                self.name_lookups += 1
                names = dict(await self.container_names())
                if names:
                    self.sampler.set_container_names({**self.sampler.container_names, **names})
                    snapshot = name_containers(snapshot, names)
            self.latest = snapshot
            self.sampled_at = self._clock()
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:  # one broken view must not stop the others hearing of samples
                log.exception("GPU feed listener failed")
        return snapshot

    def is_stale(self) -> bool:
        """True when nobody has sampled for two periods (no loop is running)."""
        return self._clock() - self.sampled_at > 2 * self.period_s

    def start(self) -> None:
        """Sample every ``interval_s`` in an asyncio task on the running loop (idempotent)."""
        if self.running:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(self._wake), name="gpu-feed")

    async def _loop(self, wake: asyncio.Event) -> None:
        while True:
            started = self._clock()
            wake.clear()
            try:
                await self.sample()
            except Exception:  # the loop must outlive one bad sample
                log.exception("GPU sample failed")
            delay = max(0.05, self.period_s - (self._clock() - started))
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """End the sampling loop and shut NVML down (in a thread; nothing to do if it never started)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._sampler is not None:  # never made: nothing to shut down
            await self._sampler.close()
        close = getattr(self.container_names, "close", None)
        if callable(close):
            close()

    close = stop
