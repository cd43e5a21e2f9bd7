"""The store room: what comfytui remembers across restarts, in one SQLite file (`db`): jobs (local
queue and history, with prompt, seeds, outputs and errors), the pause flag per server, the
dispatcher lock and the collected outputs' hashes. WAL mode and one transaction per change, so a
kill -9 at any point loses nothing committed, and several comfytui processes share it.

May import: `comfytui.core.config`, `.paths`, `.errors`. Nothing else: every other room may use it
(the session's adapter, which speaks in the job book's terms, is `comfytui.core.comfy.journal`).
"""
