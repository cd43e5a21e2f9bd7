"""GPU rendering shared by the dashboard's Devices pane and the GPU screen.

The data comes from the app's one ``GpuFeed`` (``core/gpu/feed.py``), handed to the views through
``tui.services.Services``: one NVML sample per interval however many views are open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from comfytui.tui.format import size

if TYPE_CHECKING:  # the sampler's module loads with the GPU feed's first sample, after the first frame
    from comfytui.core.gpu.sampler import GpuInfo, GpuProcess, GpuSnapshot

# ---------------------------------------------------------------------------------------------
# pure rendering helpers


def level_style(fraction: float) -> str:
    if fraction >= 0.9:
        return "bold red"
    if fraction >= 0.7:
        return "yellow"
    return "green"


def bar(fraction: float | None, width: int) -> Text:
    """A text bar ``█████░░░`` coloured by how full it is (blank when unknown)."""
    if fraction is None:
        return Text("·" * width, style="dim")
    fraction = max(0.0, min(1.0, fraction))
    filled = round(width * fraction)
    text = Text("█" * filled, style=level_style(fraction))
    text.append("░" * (width - filled), style="dim")
    return text


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def gib(num: int | None) -> str:
    return "—" if num is None else f"{num / 1024**3:.1f}"


def short_gpu_name(name: str | None) -> str:
    text = name or "GPU"
    for prefix in ("NVIDIA GeForce ", "NVIDIA "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def match_device(gpu: GpuInfo, devices: Sequence[Mapping[str, Any]], gpu_count: int = 1) -> Mapping[str, Any] | None:
    """The ``/system_stats`` device that is this GPU.

    By UUID or PCI bus id when the server reports them (newer ComfyUI); else by index, but only
    when there is one GPU: with several, torch's index need not be NVML's (CUDA_VISIBLE_DEVICES,
    ``gpus = ["1"]``, a missing CUDA_DEVICE_ORDER=PCI_BUS_ID), and a wrong match is worse than none.
    """
    cuda = [d for d in devices if str(d.get("type", "")).lower() == "cuda"]
    for d in cuda:
        uuid = str(d.get("uuid") or "")
        if uuid and gpu.uuid and uuid.removeprefix("GPU-").lower() == gpu.uuid.removeprefix("GPU-").lower():
            return d
        bus = str(d.get("pci_bus_id") or "")
        if bus and gpu.pci_bus_id and bus.lower()[-12:] == gpu.pci_bus_id.lower()[-12:]:
            return d
    if gpu_count != 1 or len(cuda) != 1 or any(d.get("uuid") or d.get("pci_bus_id") for d in cuda):
        return None
    return cuda[0]


def torch_line(device: Mapping[str, Any]) -> Text:
    total = device.get("torch_vram_total") or 0
    free = device.get("torch_vram_free") or 0
    return Text(f"torch {size(total - free)} in use of {size(total)} reserved", style="dim")


def server_devices(stats: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [d for d in (stats or {}).get("devices") or [] if isinstance(d, Mapping)]


def gpu_lines(gpu: GpuInfo, device: Mapping[str, Any] | None, width: int) -> Text:
    """A GPU in a few lines: name and sensors, a util bar, a VRAM bar, the server's torch VRAM."""
    text = Text()
    if gpu.unavailable:
        text.append(f"GPU{gpu.index} ", style="bold")
        text.append(f"unreadable: {gpu.unavailable}", style="yellow")
        return text
    sensors = []
    if gpu.temperature_c is not None:
        sensors.append(f"{gpu.temperature_c}°C")
    if gpu.power_w is not None:
        sensors.append(f"{gpu.power_w:.0f}" + (f"/{gpu.power_limit_w:.0f}W" if gpu.power_limit_w else "W"))
    if gpu.fan_percent is not None and width >= 50:
        sensors.append(f"fan {gpu.fan_percent}%")
    right = " ".join(sensors)
    head = f"GPU{gpu.index} {short_gpu_name(gpu.name)}"
    room = max(8, width - len(right) - 1)
    text.append(head[:room].ljust(room), style="bold")
    text.append(" " + right + "\n", style="cyan")
    bar_width = max(6, width - 22)
    util = None if gpu.util_gpu is None else gpu.util_gpu / 100
    text.append("util ")
    text.append_text(bar(util, bar_width))
    text.append(f" {pct(gpu.util_gpu):>4}\n")
    mem = gpu.memory_percent
    text.append("VRAM ")
    text.append_text(bar(None if mem is None else mem / 100, bar_width))
    text.append(f" {gib(gpu.memory_used)}/{gib(gpu.memory_total)} GiB")
    for err in gpu.errors[:2]:
        text.append(f"\n! {err}", style="yellow")
    if gpu.notes:
        text.append("\n" + " · ".join(gpu.notes[:3]), style="dim")
    for mig in gpu.mig_devices:
        text.append(f"\nMIG {mig.name} {gib(mig.memory_used)}/{gib(mig.memory_total)} GiB"
                    f" · {len(mig.processes)} proc", style="cyan")
    if device is not None:
        text.append("\n")
        text.append_text(torch_line(device))
    return text


def process_owner(proc: GpuProcess) -> str:
    """The container's name, else the process's name (what a person recognises)."""
    if proc.container_name:
        return proc.container_name
    if proc.container_id:
        return f"container {proc.container_id[:12]}"
    return proc.name or "?"


def is_comfyui(proc: GpuProcess, managed_container: str | None) -> bool:
    return proc.is_comfyui or (managed_container is not None and proc.container_name == managed_container)


def nvml_status(snapshot: GpuSnapshot | None) -> Text:
    if snapshot is None:
        return Text("NVML: sampling…", style="dim italic")
    if not snapshot.available:
        return Text(snapshot.reason, style="yellow")
    if not snapshot.gpus:
        return Text("NVML: no NVIDIA GPU found", style="yellow")
    return Text(f"NVML driver {snapshot.driver_version or '?'}", style="dim")


def text_height(text: Text, width: int) -> int:
    """Lines ``text`` takes when wrapped at ``width`` (roughly: long lines wrap at ``width``)."""
    return sum(max(1, -(-len(line.plain) // max(1, width))) for line in text.split("\n"))


def _gib_short(num: int | None) -> str:
    return "—" if num is None else f"{num / 1024**3:.1f}G"


def compact_gpu_lines(gpu: GpuInfo, width: int) -> Text:
    """A GPU in two lines: name and sensors; util and VRAM bars."""
    text = Text()
    if gpu.unavailable:
        text.append(f"GPU{gpu.index} unreadable: {gpu.unavailable}"[:width], style="yellow")
        return text
    sensors = []
    if gpu.temperature_c is not None:
        sensors.append(f"{gpu.temperature_c}°C")
    if gpu.power_w is not None:
        sensors.append(f"{gpu.power_w:.0f}W")
    right = " ".join(sensors)
    room = max(8, width - len(right) - 1)
    text.append(f"GPU{gpu.index} {short_gpu_name(gpu.name)}"[:room].ljust(room), style="bold")
    text.append(" " + right + "\n", style="cyan")
    w = max(4, (width - 27) // 2)
    text.append("util ")
    text.append_text(bar(None if gpu.util_gpu is None else gpu.util_gpu / 100, w))
    text.append(f" {pct(gpu.util_gpu):>4} VRAM ")
    mem = gpu.memory_percent
    text.append_text(bar(None if mem is None else mem / 100, w))
    text.append(f" {_gib_short(gpu.memory_used)}/{_gib_short(gpu.memory_total)}")
    return text


def pane_text(snapshot: GpuSnapshot | None, stats: Mapping[str, Any] | None, width: int,
              managed_container: str | None = None, *, compact: bool = False) -> Text:
    """The dashboard's Devices pane: NVML GPUs with torch VRAM, else the server's devices and why.

    ``compact`` (a short pane, e.g. at 80x24) puts NVML's status first and drops to one or two
    lines per device.
    """
    text = Text()
    devices = server_devices(stats)
    used: set[int] = set()
    if compact:
        text.append_text(nvml_status(snapshot))
        text.append("\n")
    if snapshot is not None and snapshot.available and snapshot.gpus:
        for gpu in snapshot.gpus:
            device = match_device(gpu, devices, len(snapshot.gpus))
            if device is not None:
                used.add(id(device))
            text.append_text(compact_gpu_lines(gpu, width) if compact else gpu_lines(gpu, device, width))
            comfy = [p for p in gpu.processes if is_comfyui(p, managed_container)]
            if comfy and not compact:
                held = sum(p.used_memory or 0 for p in comfy)
                text.append(f"\nComfyUI holds {size(held)}", style="magenta")
            text.append("\n")
    if stats:
        system = stats.get("system") or {}
        for device in devices:
            if id(device) in used:
                continue
            total = device.get("vram_total") or 0
            free = device.get("vram_free") or 0
            name = str(device.get("name", "device"))
            label = "mem " if str(device.get("type", "")).lower() == "cpu" else "VRAM"
            fraction = (total - free) / total if total else None
            if compact:
                head = name[: max(4, width - 30)]
                text.append(f"{head} ", style="bold")
                text.append_text(bar(fraction, max(4, width - len(head) - 24)))
                text.append(f" {_gib_short(total - free)}/{_gib_short(total)} server\n")
                continue
            text.append(f"{name[: width - 9]} (server)\n", style="bold")
            text.append(f"{label} ")
            text.append_text(bar(fraction, max(6, width - 24)))
            text.append(f" {size(total - free)}/{size(total)}\n")
            text.append_text(torch_line(device))
            text.append("\n")
        ram_total = system.get("ram_total") or 0
        ram_free = system.get("ram_free") or 0
        comfy_version = f"ComfyUI {system.get('comfyui_version', '?')}"
        torch_version = f"torch {str(system.get('pytorch_version', '?')).split('+')[0]}"
        if compact:
            text.append(f"RAM {_gib_short(ram_total - ram_free)}/{_gib_short(ram_total)} · {comfy_version}\n",
                        style="dim")
        else:
            text.append("RAM  ")
            text.append_text(bar((ram_total - ram_free) / ram_total if ram_total else None, max(6, width - 24)))
            text.append(f" {size(ram_total - ram_free)}/{size(ram_total)}\n")
            text.append(f"{comfy_version} · {torch_version}\n", style="dim")
    elif stats is not None:
        text.append("server: not answering /system_stats\n", style="dim")
    else:
        text.append("server: waiting for /system_stats…\n", style="dim")
    if not compact:
        text.append_text(nvml_status(snapshot))
    text.rstrip()
    return text


# ---------------------------------------------------------------------------------------------
# the GPU screen's per-GPU card


class GpuCard(Vertical):
    """One GPU on the GPU screen: bars and sensors, plus sparklines of util and VRAM."""

    DEFAULT_CSS = """
    GpuCard { height: auto; border: round $primary 50%; padding: 0 1; margin-bottom: 1; }
    GpuCard .spark-row { height: 2; }
    GpuCard .spark-label { width: 6; color: $text-muted; }
    GpuCard Sparkline { width: 1fr; height: 2; }
    GpuCard .util-spark > .sparkline--max-color { color: $success; }
    """

    def __init__(self, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index

    def compose(self) -> ComposeResult:
        yield Static(id=f"gpu-summary-{self.index}", classes="gpu-summary")
        with Horizontal(classes="spark-row"):
            yield Static("util", classes="spark-label")
            yield Sparkline([], id=f"spark-util-{self.index}", classes="util-spark")
        with Horizontal(classes="spark-row"):
            yield Static("VRAM", classes="spark-label")
            yield Sparkline([], id=f"spark-mem-{self.index}", classes="mem-spark")

    def show(self, gpu: GpuInfo, device: Mapping[str, Any] | None, util: Iterable[float],
             memory: Iterable[float]) -> None:
        self.border_title = f"GPU {gpu.index}"
        width = max(30, self.content_region.width or 60)
        self.query_one(".gpu-summary", Static).update(gpu_lines(gpu, device, width))
        self.query_one(f"#spark-util-{self.index}", Sparkline).data = list(util)
        self.query_one(f"#spark-mem-{self.index}", Sparkline).data = list(memory)
