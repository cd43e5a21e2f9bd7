"""The dashboard's Devices pane: GPUs through NVML next to ComfyUI's ``/system_stats``.

``show(stats)`` (called by the app every few seconds) gives the server's view; the pane's own
worker samples NVML every ``[gpu] interval_s`` through the app's ``GpuFeed`` (see
``widgets/gpu_panel.py``). Without NVML the pane shows the server's devices and the reason NVML
is unavailable.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.widgets import Static

from comfytui.core.gpu.sampler import GpuSnapshot
from comfytui.tui.widgets.gpu_panel import GpuFeed, gpu_feed, pane_text, text_height


class DevicesPane(Static):
    DEFAULT_CSS = """
    DevicesPane { border: round $primary 60%; padding: 0 1; height: 1fr; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats: dict[str, Any] | None = None
        """The last ``/system_stats`` reply (None until the server answered once)."""
        self.snapshot: GpuSnapshot | None = None
        """The last NVML snapshot."""
        self._feed: GpuFeed | None = None
        self._unsubscribe: Any = None

    def on_mount(self) -> None:
        self.border_title = "Devices [6]"
        self.update(Text("waiting for the server…", style="dim"))
        self._feed = gpu_feed(self.app)
        self._unsubscribe = self._feed.subscribe(self._on_snapshot)
        self.sample_gpus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        # the app is closing: shut NVML down if it was ever up (quick; nothing to do without a driver).
        # Not awaited on purpose: an async unmount here delays the app's own teardown.
        if self._feed is not None and self._feed.sampler.initialised:
            self._feed.sampler.close_sync()

    @work(exclusive=True, group="gpu", exit_on_error=False, description="sampling GPUs through NVML")
    async def sample_gpus(self) -> None:
        assert self._feed is not None
        feed = self._feed
        while True:
            started = time.monotonic()
            try:
                await feed.sample()
            except Exception as exc:  # the loop must outlive one bad sample
                self.log.error(f"GPU sample failed: {exc!r}")
            await asyncio.sleep(max(0.05, feed.interval_s - (time.monotonic() - started)))

    def _on_snapshot(self, snapshot: GpuSnapshot) -> None:
        self.snapshot = snapshot
        if self.is_mounted and self.screen.is_current:
            self._render_text()

    def show(self, stats: dict[str, Any]) -> None:
        """The server's ``/system_stats`` (an empty dict: the server is not answering)."""
        self.stats = stats
        self._render_text()

    def _render_text(self) -> None:
        if self.stats is not None and not self.stats and self.snapshot is None:
            self.update(Text("no data: the server is not answering", style="dim"))
            return
        width = max(24, self.content_region.width or 44)
        height = self.content_region.height or 10
        config = getattr(self.app, "config", None)
        managed = config.container.name if config is not None else None
        text = pane_text(self.snapshot, self.stats, width, managed)
        if text_height(text, width) > height:
            text = pane_text(self.snapshot, self.stats, width, managed, compact=True)
        self.update(text)

    def on_resize(self) -> None:
        self._render_text()
