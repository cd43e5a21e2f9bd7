"""The top line: server URL, connection state, ComfyUI version, queue size."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from comfytui.core.comfy.session import ConnectionInfo


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    StatusLine.-down { background: $error 40%; }
    StatusLine.-connecting { background: $warning 30%; }
    """
    _shown: tuple[object, ...] | None = None

    def show(
        self,
        info: ConnectionInfo,
        queue_remaining: int | None,
        client_id: str,
        readonly: bool,
        service: str | None = None,
        malformed: int = 0,
    ) -> None:
        """``malformed``: messages from the server skipped as malformed (shown when not 0)."""
        # Called on every status message of a busy server: skip an unchanged line, and never ask
        # for a layout (the line's size does not depend on its text; a layout pass re-arranges
        # and repaints the whole screen).
        shown = (info, queue_remaining, client_id, readonly, service, malformed)
        if shown == self._shown:
            return
        self._shown = shown
        text = Text()
        text.append("comfytui ", style="bold")
        text.append(info.url or "", style="underline")
        text.append("  ")
        self.set_class(info.state == "disconnected", "-down")
        self.set_class(info.state == "connecting", "-connecting")
        if info.state == "connected":
            text.append("● connected", style="bold green")
            if info.via != "websocket":
                text.append(f" via {info.via}", style="yellow")
            if info.version:
                text.append(f" · ComfyUI {info.version}")
            if queue_remaining is not None:
                text.append(f" · queue {queue_remaining}")
        elif info.state == "connecting":
            text.append("◌ connecting…", style="bold yellow")
        else:
            text.append("✖ server down", style="bold")
            if info.reason:
                text.append(f": {info.reason}")
            if info.retry_in_s is not None:
                text.append(f" · retry #{info.attempt} in {info.retry_in_s:.1f}s")
        if service:
            text.append(f"  ◆ {service}", style="bold cyan")
        if malformed:
            text.append(f"  ⚠ {malformed} malformed message{'s' if malformed != 1 else ''} skipped", style="bold yellow")
        if readonly:
            text.append("  [read-only]", style="bold yellow")
        self.update(text, layout=False)
