"""Scrolling widgets whose box CSS sets (``height: 1fr``), not their content."""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.reactive import Reactive


class BoxNotSizedByContent:
    """For a ``ScrollView`` (a table, the log) that grows by rows while its box stays put.

    Textual's ``virtual_size`` is ``layout=True``: each new row would lay the whole screen out
    and paint it in full (~50 ms of a render with jobs finishing on the dashboard). The rows only
    move the scrollbars: those follow the new size here, and when one appears or goes, its own
    reactive (``show_vertical_scrollbar``) asks for the layout. A box whose size is ``auto`` still
    lays out."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0))

    def watch_virtual_size(self, size: Size) -> None:
        widget: Any = self
        if not widget.is_mounted:
            return
        styles = widget.styles
        if (styles.height is not None and styles.height.is_auto) or (styles.width is not None and styles.width.is_auto):
            widget.refresh(layout=True)
            return
        widget._scroll_update(size)
        widget.refresh()
