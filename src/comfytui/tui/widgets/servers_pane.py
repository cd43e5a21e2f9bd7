"""The servers strip: one line per server of the fleet (docs/FLEET.md) under the header.

Each server shows whether it answers, its ComfyUI version, its queue depth (running + pending) and
its first device with VRAM, from its own ``/system_stats``. The current server (the one the
header, Devices, Server, GPU, Models and Logs views follow) is marked ``▶`` and read from the app's
session and its ``SystemStatsPoller`` (no second poll); every other server gets its own
``SystemStatsPoller`` and client, polled at a calm rate. The app shows the strip only when there
is more than one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.widgets import Static

from comfytui.core.comfy.client import ComfyClient
from comfytui.core.comfy.stats import StatsSample, SystemStatsPoller
from comfytui.core.errors import ComfyTuiError

if TYPE_CHECKING:
    from comfytui.core.config import Config
    from comfytui.tui.services import Services

OTHERS_POLL_S = 5.0
"""How often a server that is not the current one is asked for its stats and queue."""


@dataclass
class ServerState:
    """What the strip knows of one server."""

    up: bool | None = None  # None: not asked yet
    version: str = ""
    queue: int | None = None
    device: str = ""
    vram_used: int | None = None
    vram_total: int | None = None
    error: str = ""
    at: float = 0.0


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f}"


def state_from_sample(state: ServerState, sample: StatsSample | None) -> None:
    if sample is None:
        return
    state.at = sample.at
    if sample.stats is None:
        state.up = False
        state.error = sample.error or "unreachable"
        return
    stats = sample.stats
    state.up = True
    state.error = ""
    state.version = stats.comfyui_version
    if stats.devices:
        device = stats.devices[0]
        state.device = device.type if device.type == "cpu" else device.name
        state.vram_total = device.vram_total
        state.vram_used = device.vram_used


class ServersPane(Static):
    """The fleet's servers, one line each; ``▶`` marks the current server."""

    DEFAULT_CSS = """
    ServersPane { height: auto; max-height: 8; padding: 0 1; }
    """

    def __init__(self, servers: list[tuple[str, Config]], current: str, services: Services, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.servers = list(servers)
        self.current = current
        self.services = services
        self.states: dict[str, ServerState] = {name: ServerState() for name, _ in self.servers}
        self._pollers: dict[str, SystemStatsPoller] = {}
        self._clients: dict[str, ComfyClient] = {}

    # -- the app's side

    def set_current(self, name: str, services: Services) -> None:
        """The current server changed (the app rebuilt its session for it)."""
        self.current = name
        self.services = services
        self.refresh_line()
        self.poll_others()

    def refresh_line(self) -> None:
        """Re-read the current server from the session and its poller, and redraw."""
        services = self.services
        state = self.states.setdefault(self.current, ServerState())
        connection = services.session.connection
        sample = services.stats_poller.latest
        state_from_sample(state, sample)
        if connection.state == "connected":
            state.up = True
            state.error = ""
            state.version = connection.version or state.version
            state.queue = services.session.book.queue_remaining
        elif connection.state == "disconnected":
            state.up = False
            state.error = connection.reason or "server down"
        self.update(self.render_text())

    def render_text(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, (name, config) in enumerate(self.servers):
            state = self.states.get(name) or ServerState()
            if index:
                text.append("\n")
            current = name == self.current
            text.append("▶ " if current else "  ", style="bold")
            text.append(name, style="bold" if current else "")
            text.append(f" {config.server.url}  ", style="dim")
            if state.up is None:
                text.append("◌ asking…", style="yellow")
                continue
            if not state.up:
                text.append("✖ down", style="bold red")
                if state.error:
                    text.append(f": {state.error[:80]}", style="dim")
                continue
            text.append("● up", style="bold green")
            if state.version:
                text.append(f" · ComfyUI {state.version}")
            if state.queue is not None:
                text.append(f" · queue {state.queue}")
            if state.device:
                text.append(f" · {state.device}")
                if state.vram_total:
                    used = state.vram_used or 0
                    text.append(f" {_gib(used)}/{_gib(state.vram_total)} GiB")
        return text

    def line_of(self, name: str) -> str:
        """The plain text of one server's line (tests, and the palette's descriptions)."""
        for line in self.render_text().plain.splitlines():
            if line[2:].split(" ", 1)[0] == name:
                return line
        return ""

    # -- polling the other servers

    def on_mount(self) -> None:
        self.refresh_line()
        self.set_interval(1.0, self.refresh_line)
        self.poll_others()

    def _poller(self, name: str, config: Config) -> SystemStatsPoller:
        poller = self._pollers.get(name)
        if poller is None:
            client = ComfyClient(config.server)
            self._clients[name] = client
            poller = self._pollers[name] = SystemStatsPoller(client, interval_s=OTHERS_POLL_S)
        return poller

    async def _poll_one(self, name: str, config: Config) -> None:
        poller = self._poller(name, config)
        sample = await poller.refresh()
        state = self.states.setdefault(name, ServerState())
        state_from_sample(state, sample)
        if sample.ok:
            try:
                snapshot = await poller.client.queue()
            except ComfyTuiError:
                state.queue = None
            else:
                state.queue = len(snapshot.running) + len(snapshot.pending)
        else:
            state.queue = None

    @work(exclusive=True, group="servers-strip", exit_on_error=False, description="polling the fleet's servers")
    async def poll_others(self) -> None:
        while True:
            others = [(n, c) for n, c in self.servers if n != self.current]
            started = time.monotonic()
            results = await asyncio.gather(*(self._poll_one(n, c) for n, c in others), return_exceptions=True)
            for (name, _), result in zip(others, results, strict=True):
                if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                    state = self.states.setdefault(name, ServerState())
                    state.up, state.error = False, f"{type(result).__name__}: {result}"
            self.update(self.render_text())
            await asyncio.sleep(max(0.5, OTHERS_POLL_S - (time.monotonic() - started)))

    async def on_unmount(self) -> None:
        for poller in self._pollers.values():
            with contextlib.suppress(Exception):
                await poller.stop()
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
