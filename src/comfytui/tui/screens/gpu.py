"""The GPU screen (``g`` on the dashboard): NVML per GPU, its processes, and ComfyUI's own view.

Left, one card per GPU (util and VRAM bars, temperature, power, sparklines of the sampler's
history); right, ``/system_stats`` (VRAM, torch VRAM, RAM, versions, argv); below, the processes
holding GPU memory with their container (or process) name and a ComfyUI marker. ``u`` unloads
models and ``f`` frees memory (``POST /free``), each after a y/N confirmation; the before/after the
server reported is shown under the table. Esc goes back.

Samples come from the app's ``GpuFeed`` and ``/system_stats`` from the app's shared poller (the
app runs both loops), so opening this screen starts no second NVML loop and no second poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from comfytui.core.comfy.stats import StatsSample
from comfytui.core.comfy.types import FreeResult
from comfytui.core.errors import ComfyTuiError
from comfytui.core.gpu.feed import GpuFeed
from comfytui.core.gpu.sampler import GpuSnapshot
from comfytui.tui.format import size
from comfytui.tui.screens.confirm import ConfirmScreen
from comfytui.tui.services import Services, changes_server
from comfytui.tui.widgets.gpu_panel import (
    GpuCard,
    bar,
    is_comfyui,
    match_device,
    process_owner,
    server_devices,
    torch_line,
)
from comfytui.tui.widgets.tables import RowTable


def server_text(stats: Mapping[str, Any] | None, error: str | None = None) -> Text:
    """ComfyUI's view of memory from ``/system_stats``."""
    text = Text()
    if not stats:
        text.append(error or "waiting for /system_stats…", style="dim" if not error else "yellow")
        return text
    system = stats.get("system") or {}
    text.append(f"ComfyUI {system.get('comfyui_version', '?')}", style="bold")
    text.append(f" · torch {system.get('pytorch_version', '?')}\n")
    text.append(f"python {str(system.get('python_version', '?')).split()[0]} · {system.get('os', '?')}\n", style="dim")
    ram_total = system.get("ram_total") or 0
    ram_free = system.get("ram_free") or 0
    text.append("RAM  ")
    text.append_text(bar((ram_total - ram_free) / ram_total if ram_total else None, 14))
    text.append(f" {size(ram_total - ram_free)} / {size(ram_total)}\n")
    for device in server_devices(stats):
        total = device.get("vram_total") or 0
        free = device.get("vram_free") or 0
        text.append(f"\n{device.get('name', 'device')}", style="bold")
        text.append(f" ({device.get('type', '?')})\n", style="dim")
        text.append("VRAM ")
        text.append_text(bar((total - free) / total if total else None, 14))
        text.append(f" {size(total - free)} / {size(total)}\n")
        text.append_text(torch_line(device))
        text.append("\n")
    argv = system.get("argv") or []
    if argv:
        text.append("\nargv ", style="bold")
        text.append(" ".join(str(a) for a in argv), style="dim")
    return text


def free_text(result: FreeResult) -> Text:
    """What ``POST /free`` asked for, what the server said, and memory before and after."""
    body = json.dumps({"unload_models": result.unload_models, "free_memory": result.free_memory})
    reply = result.reply.strip()
    text = Text()
    text.append(f"POST /free {body}: ", style="bold")
    text.append(f"HTTP {result.status}" + (f" {reply[:200]}" if reply else " (empty reply)"),
                style="green" if result.status == 200 else "red")
    for row in result.device_changes():
        text.append(f"\n{row['device']}: ", style="bold")
        text.append(f"VRAM free {size(row['vram_free_before'])} → {size(row['vram_free_after'])}")
        text.append(f" · torch VRAM free {size(row['torch_vram_free_before'])} → {size(row['torch_vram_free_after'])}")
    before = result.before.ram_free if result.before else None
    after = result.after.ram_free if result.after else None
    if result.before is not None or result.after is not None:
        text.append(f"\nRAM free {size(before)} → {size(after)}")
    return text


class GpuScreen(Screen[None]):
    """Every GPU, its processes and ComfyUI's memory, with the unload/free actions."""

    DEFAULT_CSS = """
    GpuScreen #gpu-title { height: 1; padding: 0 1; background: $boost; }
    GpuScreen #gpu-top { height: 1fr; min-height: 8; }
    GpuScreen #gpu-cards { width: 1fr; }
    GpuScreen #nvml-reason { padding: 1 1; }
    GpuScreen #server-view { width: 42%; max-width: 60; border: round $secondary 60%; padding: 0 1; }
    GpuScreen #procs { height: auto; max-height: 10; border: round $primary 50%; }
    GpuScreen #free-result { height: auto; max-height: 6; padding: 0 1; border: round $warning 40%; }
    """

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="gpu.back"),
        Binding("u", "free(True)", "Unload models", id="gpu.unload",
                tooltip="POST /free {unload_models: true}: drop loaded models (asks first)"),
        Binding("f", "free(False)", "Free memory", id="gpu.free",
                tooltip="POST /free {unload_models, free_memory}: unload models and clear the cache (asks first)"),
        Binding("r", "refresh", "Refresh", id="gpu.refresh", tooltip="Sample the GPUs and /system_stats now"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.managed_container: str | None = services.managed_container
        self.feed: GpuFeed = services.gpu_feed
        self.stats: dict[str, Any] | None = None
        self.stats_error: str | None = None
        self.snapshot: GpuSnapshot | None = None
        self.free_results: list[FreeResult] = []
        """Every ``POST /free`` this screen sent, in order."""
        self._unsubscribe: list[Callable[[], None]] = []
        self._card_indices: tuple[int, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("GPUs", id="gpu-title")
        with Horizontal(id="gpu-top"):
            yield VerticalScroll(id="gpu-cards")
            with VerticalScroll(id="server-view"):
                yield Static(id="server-stats")
        yield RowTable(id="procs", cursor_type="row", zebra_stripes=True)
        yield Static(Text("u unload models · f free memory (both ask first)", style="dim"), id="free-result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#server-view").border_title = "ComfyUI /system_stats"
        procs = self.query_one("#procs", DataTable)
        procs.border_title = "Processes"
        procs.add_columns("GPU", "PID", "Container / process", "Name", "VRAM", "Kind", "")
        poller = self.services.stats_poller
        if poller.latest is not None:
            self._on_stats(poller.latest)
        self._render_server()
        self._unsubscribe = [self.feed.subscribe(self._on_snapshot), poller.subscribe(self._on_stats)]
        if self.feed.latest is not None:
            self._on_snapshot(self.feed.latest)
        else:
            self.sample_now()
        self.refresh_server()
        self.set_interval(self.feed.interval_s, self._sample_if_stale)

    def _sample_if_stale(self) -> None:
        # the app normally runs the sampling loop; sample here if it does not
        if self.feed.is_stale():
            self.sample_now()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    # -- data

    def action_refresh(self) -> None:
        self.sample_now()
        self.refresh_server()

    @work(exclusive=True, group="gpu-screen-sample", exit_on_error=False, description="sampling GPUs now")
    async def sample_now(self) -> None:
        await self.feed.sample()

    @work(exclusive=True, group="gpu-screen-stats", exit_on_error=False, description="reading /system_stats")
    async def refresh_server(self) -> None:
        """Poll the shared poller now; its subscribers (this screen too) get the answer."""
        await self.services.stats_poller.refresh()

    def _on_stats(self, sample: StatsSample) -> None:
        self.stats_error = sample.error
        self.stats = sample.stats.raw if sample.stats is not None else None
        if not self.is_mounted:
            return
        self._render_server()
        if self.snapshot is not None:
            self._render_gpus(self.snapshot)

    def _on_snapshot(self, snapshot: GpuSnapshot) -> None:
        self.snapshot = snapshot
        if self.is_mounted:
            self._render_gpus(snapshot)

    # -- rendering

    def _render_server(self) -> None:
        self.query_one("#server-stats", Static).update(server_text(self.stats, self.stats_error))

    def _render_gpus(self, snapshot: GpuSnapshot) -> None:
        title = self.query_one("#gpu-title", Static)
        cards = self.query_one("#gpu-cards", VerticalScroll)
        procs = self.query_one("#procs", DataTable)
        if not snapshot.available:
            title.update(Text("GPUs · NVML unavailable", style="bold yellow"))
            if self._card_indices != ():
                self._card_indices = ()
                cards.remove_children()
                cards.mount(Static(id="nvml-reason"))
            reason = Text(snapshot.reason + "\n\n", style="yellow")
            reason.append("ComfyUI's own view of its devices is on the right (from /system_stats).", style="dim")
            cards.query_one("#nvml-reason", Static).update(reason)
            procs.clear()
            procs.border_subtitle = "no process list without NVML"
            return
        count = len(snapshot.gpus)
        title.update(Text(f"GPUs · NVML driver {snapshot.driver_version or '?'} · {count} GPU(s)", style="bold"))
        indices = tuple(g.index for g in snapshot.gpus)
        if indices != self._card_indices:
            self._card_indices = indices
            cards.remove_children()
            if indices:
                cards.mount_all(GpuCard(i, id=f"gpu-card-{i}") for i in indices)
            else:
                cards.mount(Static(Text("NVML works but found no GPU.", style="yellow"), id="nvml-reason"))
            self.call_after_refresh(self._render_gpus, snapshot)  # the cards need to be mounted first
            return
        devices = server_devices(self.stats)
        for gpu in snapshot.gpus:
            found = cards.query(f"#gpu-card-{gpu.index}").results(GpuCard)
            card = next(iter(found), None)
            if card is None:
                continue
            card.show(gpu, match_device(gpu, devices, len(snapshot.gpus)),
                      self.feed.sampler.series(gpu.key, "util_gpu"),
                      self.feed.sampler.series(gpu.key, "memory_percent"))
        cursor = procs.cursor_row
        procs.clear()
        rows = [p for g in snapshot.gpus for p in g.processes]
        for p in rows:
            marker = Text("ComfyUI", style="bold magenta") if is_comfyui(p, self.managed_container) else Text("")
            procs.add_row(str(p.gpu_index), str(p.pid), Text(process_owner(p)), Text(p.name or "?"),
                          size(p.used_memory) if p.used_memory is not None else "—", p.kind, marker)
        if rows and cursor > 0:
            procs.move_cursor(row=min(cursor, len(rows) - 1))
        procs.border_subtitle = f"{len(rows)} process(es)" if rows else "no process holds GPU memory"

    # -- actions

    def action_free(self, unload_only: bool) -> None:
        self.free_memory(unload_only)

    @work(exclusive=True, group="gpu-free", exit_on_error=False, description="POST /free")
    @changes_server
    async def free_memory(self, unload_only: bool) -> None:
        if unload_only:
            question, detail = "Unload all models?", "POST /free {unload_models: true}. The next job loads them again."
        else:
            question = "Unload all models and free memory?"
            detail = ("POST /free {unload_models: true, free_memory: true}: also clears the node cache, "
                      "so the next job runs every node again.")
        if not await self.app.push_screen_wait(ConfirmScreen(question, detail)):
            self.notify("nothing sent")
            return
        result_box = self.query_one("#free-result", Static)
        result_box.update(Text("POST /free … (waiting for the server)", style="dim"))
        try:
            result = await self.services.session.client.free(unload_models=True, free_memory=not unload_only)
        except ComfyTuiError as exc:
            result_box.update(Text(f"POST /free failed: {exc.message}", style="red"))
            self.notify(exc.message, severity="error", markup=False)
            return
        self.free_results.append(result)
        result_box.update(free_text(result))
        if result.after is not None:
            self.stats = result.after.raw
            self._render_server()
        self.notify(f"/free answered HTTP {result.status}")
        self.action_refresh()

