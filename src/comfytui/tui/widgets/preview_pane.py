"""Live preview frames, throttled: the latest frame wins and at most ``max_fps`` swaps happen a
second (an image swap costs 60-150 ms of the event loop depending on the renderer). Frames are
decoded with Pillow in a thread."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from PIL import Image as PILImage
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from comfytui.tui.images import image_class, renderer_name


def decode_image(data: bytes) -> PILImage.Image:
    """The frame as a loaded Pillow image (blocking: call it in a thread)."""
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


class PreviewPane(Vertical, can_focus=True):
    """Focusable so that ``5`` reaches it and ``z`` maximizes it."""

    DEFAULT_CSS = """
    PreviewPane { border: round $primary 60%; padding: 0 0; }
    PreviewPane:focus-within, PreviewPane:focus { border: round $accent; }
    PreviewPane #preview-caption { height: 1; color: $text-muted; padding: 0 1; }
    PreviewPane #preview-image { width: 1fr; height: 1fr; }
    PreviewPane #preview-empty { width: 1fr; height: 1fr; content-align: center middle; color: $text-muted; }
    """

    def __init__(self, protocol: str = "auto", max_fps: float = 4.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = protocol
        self.min_interval = 1.0 / max(max_fps, 0.1)
        self._pending: tuple[bytes, str] | None = None
        self._last_swap = 0.0
        self.frames_received = 0
        self.frames_shown = 0
        self._timer: Timer | None = None
        self._decoding = False

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-caption")
        cls = image_class(self.protocol)
        if cls is not None:
            image = cls(None, id="preview-image")
            image.display = False
            yield image
        yield Static("no preview yet", id="preview-empty")

    def on_mount(self) -> None:
        self.border_title = f"Preview [5] · {renderer_name(self.protocol)}"
        # Paused while no frame waits: an idle dashboard must not wake up max_fps times a second.
        self._timer = self.set_interval(self.min_interval, self._on_tick, pause=True)

    def offer(self, data: bytes, caption: str) -> None:
        """A new frame arrived; it is shown at the next tick unless a newer one replaces it (the
        latest frame wins, at most ``max_fps`` a second)."""
        self.frames_received += 1
        self._pending = (data, caption)
        if self._timer is not None:
            self._timer.resume()

    def _on_tick(self) -> None:
        self._apply_pending()
        if self._pending is None and self._timer is not None:
            self._timer.pause()

    def show_image(self, data: bytes, caption: str) -> None:
        self._pending = (data, caption)
        self._apply_pending(force=True)

    def _apply_pending(self, force: bool = False) -> None:
        if self._pending is None or self._decoding:
            return  # a frame still decoding finishes first; the newest waiting one follows it
        now = time.monotonic()
        if not force and now - self._last_swap < self.min_interval * 0.9:
            return
        data, caption = self._pending
        self._pending = None
        self._last_swap = now
        self.show_frame(data, caption)

    @work(group="preview-decode", exit_on_error=False, description="decoding a preview")
    async def show_frame(self, data: bytes, caption: str) -> None:
        # Not exclusive: when decoding takes longer than the frame interval (a loaded machine), a
        # cancelling worker would drop every frame but the last and show nothing while the job runs.
        self._decoding = True
        try:
            await self._show_frame(data, caption)
        finally:
            self._decoding = False

    async def _show_frame(self, data: bytes, caption: str) -> None:
        images = self.query("#preview-image")
        if not images:
            self.query_one("#preview-caption", Static).update(Text(caption))
            self.query_one("#preview-empty", Static).update("previews are off (ui.image_protocol)")
            return
        try:
            picture = await asyncio.to_thread(decode_image, data)
        except Exception as exc:  # a corrupt frame must not take the pane down
            self.query_one("#preview-caption", Static).update(Text(caption))
            self.query_one("#preview-empty", Static).update(Text(f"cannot decode preview: {exc}"))
            return
        self.query_one("#preview-caption", Static).update(Text(caption))  # Text: node titles are not markup
        widget = images.first()
        widget.image = picture
        widget.display = True
        self.query_one("#preview-empty", Static).display = False
        self.frames_shown += 1
