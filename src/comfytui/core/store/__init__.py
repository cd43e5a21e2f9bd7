"""The store room: what comfytui remembers across restarts (jobs, their prompts and outputs).

May import: `comfytui.core.config`, `.errors`, `.paths`. Nothing else: every other room may use it.
"""
