"""The queue room: comfytui's local queue in front of ComfyUI's.

Jobs added through comfytui wait in the store's local queue (priority, then position; held jobs
stay put); one dispatcher per server (`dispatcher`) sends them in order with ``prompt_id`` = the
job id, keeping at most ``[queue] dispatch_depth`` of ours pending on the server. Operations
(`ops`) are plain async functions shared by the dashboard, the palette and the CLI. Finished
jobs' outputs are collected by `outputs`; `notify` runs the user's notification command.

May import: `comfytui.core.config`, `.paths`, `.errors`, `.store`, `.comfy`, `.workflows`.
"""
