"""A bounded buffer of log lines from several sources (ComfyUI's own stream, the container or
process log), with filtering and search. Memory stays flat under a flood: old lines drop off."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Control sequences other than SGR colours (cursor moves, OSC titles...) are dropped: a log line
# must not be able to move the cursor or retitle the terminal.
_NON_SGR = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]")
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
LEVELS = (
    ("error", re.compile(r"\b(ERROR|CRITICAL|FATAL|Traceback \(most recent call last\)|Exception|Error:)\b|^\s+File \"")),
    ("warning", re.compile(r"\b(WARN|WARNING|deprecated)\b", re.IGNORECASE)),
)


def sanitize(text: str) -> str:
    """Keep SGR colour codes, drop every other escape and control character."""
    return _CONTROL.sub("", _NON_SGR.sub("", text))


def strip_ansi(text: str) -> str:
    return _SGR.sub("", sanitize(text))


def level_of(plain: str) -> str:
    for name, pattern in LEVELS:
        if pattern.search(plain):
            return name
    return "info"


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    source: str
    time: str
    text: str
    """Sanitised text, SGR colours kept."""
    plain: str
    level: str


class LogBuffer:
    def __init__(self, max_lines: int = 5000) -> None:
        self.lines: deque[LogLine] = deque(maxlen=max_lines)
        self._seq = 0
        self._partial: dict[str, str] = {}

    def add(self, source: str, time: str, chunk: str) -> list[LogLine]:
        """Add one write (it may hold several lines, or end mid-line, or redraw a tqdm bar with \\r)."""
        added: list[LogLine] = []
        text = self._partial.pop(source, "") + chunk.replace("\r\n", "\n")
        parts = text.split("\n")
        if not text.endswith("\n"):
            # keep an unterminated tail only while it is short (a progress bar); else show it now
            tail = parts.pop()
            if len(tail) < 400:
                self._partial[source] = tail
            else:
                parts.append(tail)
        for raw in parts:
            if not raw and not parts:
                continue
            line = raw.rsplit("\r", 1)[-1]  # a carriage return redraws the line: keep the last state
            clean = sanitize(line)
            plain = strip_ansi(clean)
            if not plain.strip() and not line:
                continue
            self._seq += 1
            entry = LogLine(self._seq, source, time, clean, plain, level_of(plain))
            self.lines.append(entry)
            added.append(entry)
        return added

    def extend(self, source: str, entries: Iterable[tuple[str, str]]) -> list[LogLine]:
        added: list[LogLine] = []
        for time, chunk in entries:
            added += self.add(source, time, chunk)
        return added

    def matching(self, text_filter: str = "", source: str | None = None) -> Iterator[LogLine]:
        needle = text_filter.lower()
        for line in self.lines:
            if source and line.source != source:
                continue
            if needle and needle not in line.plain.lower():
                continue
            yield line

    def sources(self) -> list[str]:
        return sorted({line.source for line in self.lines})
