"""The Textual dashboard. Renders the core's state and sends intents; does no I/O of its own
outside workers.

``comfytui.tui.images`` is imported here, before any ``App.run()``, because textual_image probes
the terminal at import time.
"""

from __future__ import annotations

from comfytui.core.config import Config
from comfytui.tui import images as _images  # noqa: F401  (terminal probe before App.run)


def run_dashboard(config: Config, *, readonly: bool = False, servers: list[tuple[str, Config]] | None = None) -> int:
    """``servers``: the fleet the servers strip shows (name, config), e.g. from several ``--url``;
    None: the config's ``[servers.*]``."""
    from comfytui.tui.app import ComfyTuiApp

    app = ComfyTuiApp(config, readonly=readonly, servers=servers)
    app.run()
    return app.return_code or 0

