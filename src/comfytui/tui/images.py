"""The only place that imports textual_image.

textual_image probes the terminal at import time by reading stdin, so this module is imported
from ``comfytui.tui`` before ``App.run()`` (importing it later races Textual's input thread).
The image class follows ``ui.image_protocol``: ``auto`` lets the probe decide (halfcell inside
tmux without passthrough), the others force a renderer; ``off`` shows no images.
"""

from __future__ import annotations

import logging
from typing import Any

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
