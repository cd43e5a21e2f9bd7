"""The GPU room: NVML sampling, the app-wide GPU feed, and process → container attribution.

May import: `comfytui.core.config`, `.errors`, `.paths`. Never the ComfyUI room (the UI joins a
GPU sample with ComfyUI's `/system_stats`), never Textual or Rich.
"""
