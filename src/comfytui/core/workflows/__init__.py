"""The workflows room: from a file (or a PNG, or the server's saved workflows) to a prompt to queue.

Holds the sources and library (`sources`, `library`, `userdata`), loading and PNG/WebP metadata
(`load`, `pnginfo`), editor → API conversion (`convert`), editable parameters and seeds
(`params`), the cached `/object_info` and prompt resolution (`prompts`), and model checks and
batches (`batch`).

May import: `comfytui.core.config`, `.errors`, `.paths`, and the ComfyUI room's client (for
`/object_info`, user data and outputs). Never lifecycle, gpu or models, never Textual or Rich.
"""
