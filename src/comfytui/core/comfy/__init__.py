"""The ComfyUI room: everything that speaks to one ComfyUI server.

Holds the HTTP client (`client`), the websocket stream (`stream`), the wire decoders (`protocol`)
and the typed events they produce (`events`), the pure job reducer (`jobs`) and the session that
ties them together (`session`).

May import: `comfytui.core.config`, `.paths`, `.errors`, `.logs`, `comfytui.core.store`.
Never imports workflows, lifecycle, gpu or models, and never Textual or Rich.
"""
