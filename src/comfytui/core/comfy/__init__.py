"""The ComfyUI room: everything that speaks to one ComfyUI server.

Holds the HTTP client (`client`), the websocket stream (`stream`), the wire decoders (`protocol`)
and the typed events they produce (`events`), the pure job reducer (`jobs`), the session that
ties them together (`session`) and its journal over the store (`journal`), the shared
`/system_stats` poller (`stats`), typed results (`types`) and newer servers' features (`features`).

May import: `comfytui.core.config`, `.paths`, `.errors`, `.logs`, `comfytui.core.store`.
Never imports workflows, lifecycle, gpu or models, and never Textual or Rich.
"""
