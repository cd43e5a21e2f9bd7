"""The GPU room: NVML sampling (sampler), the app-wide GPU feed (feed), process → container (containers).

May import: `comfytui.core.config`, `.errors`, `.paths`. Never the ComfyUI room (the UI joins a
GPU sample with ComfyUI's `/system_stats`), never Textual or Rich.
"""

import logging

# Library convention: the app decides where log records go; without this, Python's last-resort
# handler would write NVML warnings onto the terminal under a running TUI.
logging.getLogger(__name__).addHandler(logging.NullHandler())
