"""Telling a user who looks elsewhere that a job ended: the terminal bell and a desktop
notification written as escape sequences (they travel through SSH like any output).

OSC 9 (iTerm2, WezTerm, kitty, Windows Terminal) and OSC 777 (rxvt, foot, VTE/GNOME) are both
sent; a terminal ignores the one it does not know. Inside tmux they only reach the outer terminal
through DCS passthrough (``set -g allow-passthrough on``), so with ``$TMUX`` set they are wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from comfytui.core.config import NotifySettings

BELL = "\a"


def _clean(text: str) -> str:
    """No control characters (a label could end the sequence early) and no ';' in OSC 777 fields."""
    return "".join(ch if ch.isprintable() else " " for ch in text).replace(";", ",")[:200]


def desktop_sequences(title: str, body: str) -> str:
    title, body = _clean(title), _clean(body)
    return f"\x1b]9;{title}: {body}\x07\x1b]777;notify;{title};{body}\x07"


def tmux_passthrough(sequence: str) -> str:
    """Wrap for tmux's DCS passthrough: every ESC inside is doubled."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def job_end_output(settings: NotifySettings, state: str, title: str, body: str, env: Mapping[str, str] | None = None) -> str:
    """What to write to the terminal for a job that ended in ``state`` (may be empty)."""
    env = os.environ if env is None else env
    out = BELL if state in settings.bell else ""
    if state in settings.desktop:
        desktop = desktop_sequences(title, body)
        out += tmux_passthrough(desktop) if env.get("TMUX") else desktop
    return out
