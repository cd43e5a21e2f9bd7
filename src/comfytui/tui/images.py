"""The only place that imports textual_image.

textual_image probes the terminal at import time by reading stdin, so this module is imported
from ``comfytui.tui`` before ``App.run()`` (importing it later races Textual's input thread).
The image class follows ``ui.image_protocol``: ``auto`` lets the probe decide (halfcell inside
tmux without passthrough), the others force a renderer; ``off`` shows no images.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.segment import Segment
from textual import work
from textual.widget import Widget

# The probe logs a warning with a traceback on terminals it cannot query; keep stderr clean.
logging.getLogger("textual_image").setLevel(logging.ERROR)

try:
    import textual_image.widget as _image_widgets
except Exception:  # a 0x0 tty raised ZeroDivisionError in some versions; degrade to text
    _image_widgets = None  # type: ignore[assignment]


def image_class(protocol: str) -> Any | None:
    """The textual_image widget class for a protocol name, or None when images are off/unavailable."""
    if _image_widgets is None or protocol == "off":
        return None
    return {
        "auto": getattr(_image_widgets, "Image", None),
        "tgp": getattr(_image_widgets, "TGPImage", None),
        "sixel": getattr(_image_widgets, "SixelImage", None),
        "halfcell": getattr(_image_widgets, "HalfcellImage", None),
        "unicode": getattr(_image_widgets, "UnicodeImage", None),
    }.get(protocol)


def renderer_name(protocol: str) -> str:
    """What draws previews: the protocol asked for, or for ``auto`` what the probe chose."""
    if image_class(protocol) is None:
        return "off"
    if protocol != "auto":
        return protocol
    try:
        import textual_image.renderable as renderables

        return renderables.Image.__module__.rsplit(".", 1)[-1]
    except Exception:
        return "auto"



class RenderedFrame:
    """A picture already turned into a text renderer's segments for one cell size: Textual only
    copies them when it paints, so showing a frame costs the event loop little."""

    __slots__ = ("segments", "size", "width")

    def __init__(self, segments: list[Segment], size: tuple[int, int]) -> None:
        self.segments = segments
        self.size = size
        self.width = max((Segment.get_line_length(row) for row in Segment.split_lines(segments)), default=0)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        return iter(self.segments)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def text_renderable(protocol: str) -> Any | None:
    """textual_image's renderable class when ``protocol`` draws with text cells (halfcell,
    unicode); None for the graphics protocols (TGP, sixel) and when images are off."""
    renderable = getattr(image_class(protocol), "_Renderable", None)
    if renderable is None or renderable.__module__.rsplit(".", 1)[-1] not in ("halfcell", "unicode"):
        return None
    return renderable


class FrameImage(Widget):
    """An image widget for the text renderers that draws frames rendered in a worker thread
    (``render_frame``): showing one is a plain refresh, with no scaling or layout pass on the event
    loop. The cells are those textual_image's own widget draws for the same size."""

    def __init__(self, renderable_class: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renderable_class = renderable_class
        self.picture: Any = None
        self.frame: RenderedFrame | None = None

    def frame_options(self, width: int, height: int) -> ConsoleOptions:
        """What ``render_frame`` needs from the loop: the options Textual renders this size with."""
        return self.app.console_options.update(highlight=False, width=width, height=height).update_width(width)

    def render_frame(self, picture: Any, width: int, height: int, options: ConsoleOptions) -> RenderedFrame:
        """``picture`` as segments for ``width``x``height`` cells (blocking: call it in a thread)."""
        renderable = self.renderable_class(picture, width, height)
        return RenderedFrame(list(renderable.__rich_console__(self.app.console, options)), (width, height))

    def show(self, picture: Any, frame: RenderedFrame | None) -> None:
        """Show ``frame`` (rendered from ``picture``); one made for another size is made again."""
        self.picture = picture
        if frame is not None:
            self.frame = frame
            self.refresh()
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        size = (self.content_size.width, self.content_size.height)
        if self.picture is not None and self.content_size.area and (self.frame is None or self.frame.size != size):
            self._render_again(self.picture, *size)

    @work(exclusive=True, group="frame-image-fit", exit_on_error=False, description="rendering a preview again")
    async def _render_again(self, picture: Any, width: int, height: int) -> None:
        frame = await asyncio.to_thread(self.render_frame, picture, width, height, self.frame_options(width, height))
        if picture is self.picture:  # a newer frame has its own render
            self.frame = frame
            self.refresh()

    def render(self) -> RenderableType:
        return self.frame if self.frame is not None else ""
