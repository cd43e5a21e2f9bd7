"""The only place that imports textual_image.

textual_image probes the terminal by reading stdin, so this module is imported from
``comfytui.tui`` before ``App.run()`` (probing later races Textual's input thread). Only the probe
runs then; textual_image's widgets and renderers (and Pillow, ~16 ms) are imported when a preview
needs them, after the first frame: the probe's answer is cached, so they read no stdin.
The image class follows ``ui.image_protocol``: ``auto`` lets the probe decide (halfcell inside
tmux without passthrough), the others force a renderer; ``off`` shows no images.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.segment import Segment
from textual import work
from textual.widget import Widget

# The probe logs a warning with a traceback on terminals it cannot query; keep stderr clean.
logging.getLogger("textual_image").setLevel(logging.ERROR)

PROTOCOLS = ("auto", "tgp", "sixel", "halfcell", "unicode")
TEXT_RENDERERS = ("halfcell", "unicode")


def _probe() -> Any | None:
    """The terminal's answer (sixel, tgp), asked once now; None: images are unavailable."""
    try:
        from textual_image._terminal import probe_terminal
    except Exception:  # textual_image moved its probe: import it all now, as it probes on import
        return _load_widgets() and True
    try:
        return probe_terminal()
    except Exception:  # a closed stdout, a 0x0 tty: degrade to text
        return None


_widgets_module: Any = None
_widgets_failed = False


def _load_widgets() -> Any | None:
    """textual_image's widget module, imported on first use (it probes the terminal on import; after
    ``_probe`` that answer is cached). None when it cannot be imported: images are unavailable."""
    global _widgets_module, _widgets_failed
    if _widgets_module is None and not _widgets_failed:
        try:
            import textual_image.widget as widgets

            _widgets_module = widgets
        except Exception:  # a 0x0 tty raised ZeroDivisionError in some versions; degrade to text
            _widgets_failed = True
    return _widgets_module


_PROBED = _probe()


def image_class(protocol: str) -> Any | None:
    """The textual_image widget class for a protocol name, or None when images are off/unavailable."""
    if _PROBED is None or protocol not in PROTOCOLS or (widgets := _load_widgets()) is None:
        return None
    return {
        "auto": getattr(widgets, "Image", None),
        "tgp": getattr(widgets, "TGPImage", None),
        "sixel": getattr(widgets, "SixelImage", None),
        "halfcell": getattr(widgets, "HalfcellImage", None),
        "unicode": getattr(widgets, "UnicodeImage", None),
    }.get(protocol)


def _auto_renderer() -> str:
    """What ``auto`` draws with, by textual_image's own rule (``textual_image.renderable``), read
    from the probe's answer without importing the renderers."""
    if _widgets_module is not None:
        import textual_image.renderable as renderables

        return renderables.Image.__module__.rsplit(".", 1)[-1]
    is_tty = bool(sys.__stdout__ and sys.__stdout__.isatty())
    if is_tty and getattr(_PROBED, "sixel", False):
        return "sixel"
    if is_tty and getattr(_PROBED, "tgp", False):
        return "tgp"
    return "halfcell" if is_tty else "unicode"


def renderer_name(protocol: str) -> str:
    """What draws previews: the protocol asked for, or for ``auto`` what the probe chose."""
    if _PROBED is None or protocol not in PROTOCOLS or _widgets_failed:
        return "off"
    return _auto_renderer() if protocol == "auto" else protocol


def text_renderer(protocol: str) -> str | None:
    """``halfcell`` or ``unicode`` when ``protocol`` draws with text cells; None for the graphics
    protocols (TGP, sixel) and when images are off. Imports no renderer."""
    name = renderer_name(protocol)
    return name if name in TEXT_RENDERERS else None


def text_renderable_class(name: str) -> Any:
    """textual_image's renderable class for a text renderer (``halfcell``, ``unicode``)."""
    widgets = _load_widgets()
    widget_class = getattr(widgets, {"halfcell": "HalfcellImage", "unicode": "UnicodeImage"}[name], None)
    return widget_class._Renderable  # type: ignore[union-attr]



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
    name = text_renderer(protocol)
    return text_renderable_class(name) if name else None


class FrameImage(Widget):
    """An image widget for the text renderers that draws frames rendered in a worker thread
    (``render_frame``): showing one is a plain refresh, with no scaling or layout pass on the event
    loop. The cells are those textual_image's own widget draws for the same size.

    ``renderer``: the renderable class, or a text renderer's name (``halfcell``, ``unicode``) whose
    class is imported by the first ``render_frame`` (in its thread, after the first frame)."""

    def __init__(self, renderer: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer
        self.picture: Any = None
        self.frame: RenderedFrame | None = None

    @property
    def renderable_class(self) -> Any:
        if isinstance(self.renderer, str):
            self.renderer = text_renderable_class(self.renderer)
        return self.renderer

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
