"""The models room: the model catalog (folders, size, date, flags), sha256 hashing with its cache,
and the safetensors header reader (only the header is read, never the weights).

May import: `comfytui.core.config`, `.errors`, `.paths`, and the ComfyUI room's client for the
server's own model lists. Never workflows, lifecycle or gpu, never Textual or Rich.
"""
