"""The dashboard's Devices pane: GPUs through NVML next to ComfyUI's ``/system_stats``.

``show(stats)`` (called by the app after every ``/system_stats`` poll) gives the server's view;
NVML snapshots come from the app's ``GpuFeed``, which the app samples every ``[gpu] interval_s``.
Without NVML the pane shows the server's devices and the reason NVML is unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from comfytui.tui.widgets.gpu_panel import pane_text, text_height

if TYPE_CHECKING:
    from comfytui.core.gpu.feed import GpuFeed
    from comfytui.core.gpu.sampler import GpuSnapshot


def cpu_only_view(stats: dict[str, Any] | None) -> tuple[dict[str, Any] | None, Text]:
    """On a CPU-only server ``/system_stats`` lists the CPU as a device whose "VRAM" is the
    system RAM and whose torch figures are not GPU memory: show the RAM once, under a plain
    "CPU" heading, instead of the same memory twice with GPU words."""
    devices = (stats or {}).get("devices") or []
    if not stats or not devices or any(str(d.get("type", "")).lower() != "cpu" for d in devices):
        return stats, Text()
    return {**stats, "devices": []}, Text("CPU only: ComfyUI computes on the CPU, in system RAM\n", style="bold")


class DevicesPane(Static, can_focus=True):
    """Focusable so that ``6`` reaches it and ``z`` maximizes it."""

    DEFAULT_CSS = """
    DevicesPane { border: round $primary 60%; padding: 0 1; height: 1fr; }
    DevicesPane:focus { border: round $accent; }
    """

    def __init__(self, feed: GpuFeed, managed_container: str | None = None, **kwargs: Any) -> None:
        """``managed_container``: the container name whose GPU processes are marked ComfyUI."""
        super().__init__(**kwargs)
        self.feed = feed
        self.managed_container = managed_container
        self.stats: dict[str, Any] | None = None
        """The last ``/system_stats`` reply (None until the server answered once)."""
        self.snapshot: GpuSnapshot | None = None
        """The last NVML snapshot."""
        self._unsubscribe: Callable[[], None] | None = None

    def on_mount(self) -> None:
        self.border_title = "Devices [6]"
        self.update(Text("waiting for the server…", style="dim"))
        self._unsubscribe = self.feed.subscribe(self._on_snapshot)
        if self.feed.latest is not None:
            self._on_snapshot(self.feed.latest)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

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
        managed = self.managed_container
        stats, heading = cpu_only_view(self.stats)
        text = heading + pane_text(self.snapshot, stats, width, managed)
        if text_height(text, width) > height:
            # short pane: NVML's status (why there are no GPU cards) first, the CPU note after it
            text = pane_text(self.snapshot, stats, width, managed, compact=True)
            text.rstrip()
            if heading.plain:
                text.append("\nCPU only (system RAM)", style="bold")
        self.update(text)

    def on_resize(self) -> None:
        self._render_text()
