"""A small Devices pane from ComfyUI's ``/system_stats`` (the GPU pane adds NVML)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from comfytui.tui.format import size


def _bar(used: float, total: float, width: int = 16) -> str:
    if not total:
        return " " * width
    filled = round(width * max(0.0, min(1.0, used / total)))
    return "█" * filled + "░" * (width - filled)


class DevicesPane(Static):
    DEFAULT_CSS = """
    DevicesPane { border: round $primary 60%; padding: 0 1; height: 1fr; }
    """

    def on_mount(self) -> None:
        self.border_title = "Devices [6]"
        self.update(Text("waiting for the server…", style="dim"))

    def show(self, stats: dict[str, Any], nvml_note: str | None = None) -> None:
        if not stats:
            self.update(Text("no data: the server is not answering", style="dim"))
            return
        system = stats.get("system") or {}
        text = Text()
        ram_total = system.get("ram_total") or 0
        ram_free = system.get("ram_free") or 0
        text.append("RAM  ", style="bold")
        text.append(f"{_bar(ram_total - ram_free, ram_total)} {size(ram_total - ram_free)} / {size(ram_total)}\n")
        for device in stats.get("devices") or []:
            total = device.get("vram_total") or 0
            free = device.get("vram_free") or 0
            torch_total = device.get("torch_vram_total") or 0
            torch_free = device.get("torch_vram_free") or 0
            name = str(device.get("name", "device"))
            text.append(f"{name[:40]}\n", style="bold")
            text.append(f"VRAM {_bar(total - free, total)} {size(total - free)} / {size(total)}\n")
            text.append(f"torch {size(torch_total - torch_free)} in use of {size(torch_total)} reserved\n", style="dim")
        versions = [
            f"ComfyUI {system.get('comfyui_version', '?')}",
            f"torch {str(system.get('pytorch_version', '?')).split('+')[0]}",
            f"python {str(system.get('python_version', '?')).split()[0]}",
        ]
        text.append(" · ".join(versions), style="dim")
        if nvml_note:
            text.append(f"\n{nvml_note}", style="dim italic")
        self.update(text)
