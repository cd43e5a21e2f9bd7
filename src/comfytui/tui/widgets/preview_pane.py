"""Live preview frames, throttled: the latest frame wins and at most ``max_fps`` swaps happen a
second. Frames are decoded with Pillow in a thread; for the text renderers (halfcell, unicode) the
scaling and the cells are made in that thread too, so a frame costs the event loop one plain
refresh (textual_image's own widget scales and renders on the loop: 60-150 ms a frame, which
delayed key presses while previews streamed)."""

from __future__ import annotations

import asyncio
import io
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Static

from comfytui.tui.images import FrameImage, RenderedFrame, image_class, renderer_name, text_renderer

if TYPE_CHECKING:
    from PIL import Image as PILImage


def decode_image(data: bytes) -> PILImage.Image:
    """The frame as a loaded Pillow image (blocking: call it in a thread)."""
    from PIL import Image as PILImage  # Pillow loads with the first frame, not before the dashboard's

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
        """Armed only while a frame waits for its turn: an idle dashboard does not wake up."""
        self._decoding = False

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-caption")
        # The text renderers' classes (and Pillow) are imported by the first frame's render, in its
        # thread; only TGP and sixel need textual_image's widget now.
        renderer = text_renderer(self.protocol)
        cls = None if renderer else image_class(self.protocol)
        image = FrameImage(renderer, id="preview-image") if renderer else cls(None, id="preview-image") if cls else None
        if image is not None:
            image.display = False
            yield image
        yield Static("no preview yet", id="preview-empty")

    def on_mount(self) -> None:
        self.border_title = f"Preview [5] · {renderer_name(self.protocol)}"

    def offer(self, data: bytes, caption: str) -> None:
        """A new frame arrived; it is shown when its turn comes unless a newer one replaces it (the
        latest frame wins, at most ``max_fps`` a second)."""
        self.frames_received += 1
        self._pending = (data, caption)
        self._schedule()

    def show_image(self, data: bytes, caption: str) -> None:
        self._pending = (data, caption)
        self._apply_pending(force=True)

    def _schedule(self) -> None:
        """Arm the one-shot timer for the waiting frame, unless it is armed already or a frame is
        being prepared (its end calls this again)."""
        if self._pending is None or self._decoding or self._timer is not None:
            return
        delay = self._last_swap + self.min_interval - time.monotonic()
        if delay <= 0:
            self._apply_pending()
        else:
            self._timer = self.set_timer(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._apply_pending()

    def _apply_pending(self, force: bool = False) -> None:
        if self._pending is None or self._decoding:
            return  # a frame still being prepared finishes first; the newest waiting one follows it
        if not force and time.monotonic() - self._last_swap < self.min_interval * 0.9:
            self._schedule()
            return
        data, caption = self._pending
        self._pending = None
        self._last_swap = time.monotonic()
        self._decoding = True  # set before the worker starts, so no second one starts meanwhile
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
            self._schedule()

    def _image_cells(self, widget: FrameImage) -> tuple[int, int]:
        """The image's size in cells; before its first frame it is hidden (no size yet) and will
        fill the pane below the caption."""
        if widget.display and widget.content_size.area:
            return widget.content_size.width, widget.content_size.height
        return self.content_size.width, max(self.content_size.height - 1, 0)

    async def _show_frame(self, data: bytes, caption: str) -> None:
        images = self.query("#preview-image")
        caption_line = self.query_one("#preview-caption", Static)
        empty = self.query_one("#preview-empty", Static)
        if not images:
            caption_line.update(Text(caption))
            empty.update("previews are off (ui.image_protocol)")
            return
        widget = images.first()
        frame: RenderedFrame | None = None
        try:
            if isinstance(widget, FrameImage):
                width, height = self._image_cells(widget)
                options = widget.frame_options(width, height) if width and height else None
                picture, frame = await asyncio.to_thread(_decode_and_render, widget, data, width, height, options)
            else:
                picture = await asyncio.to_thread(decode_image, data)
        except Exception as exc:  # a corrupt frame must not take the pane down
            caption_line.update(Text(caption))
            empty.update(Text(f"cannot decode preview: {exc}"))
            return
        # Text: node titles are not markup; no layout pass: the caption is one fixed line
        caption_line.update(Text(caption), layout=False)
        if isinstance(widget, FrameImage):
            widget.show(picture, frame)
        else:
            widget.image = picture
        if not widget.display:
            widget.display = True
            empty.display = False
        self.frames_shown += 1


def _decode_and_render(
    widget: FrameImage, data: bytes, width: int, height: int, options: Any
) -> tuple[PILImage.Image, RenderedFrame | None]:
    """Decode and, when the size is known, render the cells (blocking: call it in a thread)."""
    picture = decode_image(data)
    return picture, widget.render_frame(picture, width, height, options) if options is not None else None
