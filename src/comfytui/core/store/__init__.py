"""The store room: what comfytui remembers across restarts, in one SQLite file (`db`): jobs
(local queue and history), queue pause flags, the dispatcher lock, collected outputs.

`db` may import: `comfytui.core.config`, `.errors`, `.paths`. `journal` (the session's view of
the store as ``comfy.jobs.Job``) also imports `comfytui.core.comfy.jobs` / `.events`, as the
jsonl journal it replaces did.
"""
