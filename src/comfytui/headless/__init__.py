"""The headless CLI: one module per group of commands, each a thin caller of the core.

May import: `comfytui.core` only. Never `comfytui.tui`, `comfytui.cli`, Textual or Rich (except
`output`, which may use Rich to print tables).
"""
