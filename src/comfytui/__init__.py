"""comfytui: a keyboard-driven terminal dashboard for ComfyUI.

The package root stays import-light: the UI-free core lives in ``comfytui.core``, the Textual
layer in ``comfytui.tui`` and the scripting CLI in ``comfytui.headless``.
"""

__version__ = "0.1.0"
