"""A bounded buffer of log lines from several sources (ComfyUI's own stream, the container or
process log), with filtering and search. Memory stays flat under a flood: old lines drop off."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Every escape sequence a terminal acts on: CSI (7- and 8-bit, any parameters, intermediates and
# final byte; unterminated ones too), string sequences (OSC, DCS, SOS, PM, APC up to BEL or ST, or
# to the end when unterminated: the terminal would swallow that much too), and two-byte escapes
# (ESC c full reset, ESC 7/8, charset switches ``ESC ( B``...). A lone ESC goes with the last form.
_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
# C0 except \t and \n, DEL, C1. ``\r`` is kept only where a log line's redraw is resolved later.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# After ``_ESCAPE`` every ESC left starts a kept SGR code, so these two spare it.
_CONTROL_SPARE_ESC = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_CONTROL_SPARE_ESC_CR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
MAX_PARTIAL_LINE = 400
"""An unterminated tail longer than this is shown at once rather than kept for its end."""
MAX_LINE_CHARS = 16 * 1024
"""One log line is cut here: a flood without newlines must not grow a line without bound."""


def _keep_sgr(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _SGR.fullmatch(text) else ""


def strip_controls(text: str) -> str:
    """Server-provided text made inert for a terminal: every escape sequence and every C0/C1
    control character goes, except ``\\n`` and ``\\t``. Used where such text enters the core."""
    if text.isprintable():  # the common case, and C-fast
        return text
    return _CONTROL.sub("", _ESCAPE.sub("", text))


LEVELS = (
    # no \b after "...last)" or "Error:": a word boundary there needs a letter next, so the
    # traceback header and "RuntimeError: ..." went unmarked
    ("error", re.compile(r"\b(?:ERROR|CRITICAL|FATAL|Exception)\b|Error:|Traceback \(most recent call last\)|^\s+File \"")),
    ("warning", re.compile(r"\b(WARN|WARNING|deprecated)\b", re.IGNORECASE)),
)


def sanitize(text: str, *, keep_cr: bool = False) -> str:
    """Keep SGR colour codes, drop every other escape and control character (``\\r`` too unless
    ``keep_cr``: a log line's carriage returns are resolved by ``LogBuffer``)."""
    if text.isprintable():
        return text
    return (_CONTROL_SPARE_ESC_CR if keep_cr else _CONTROL_SPARE_ESC).sub("", _ESCAPE.sub(_keep_sgr, text))


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
        self._per_source: dict[str, int] = {}
        """Kept lines per source, so that ``sources()`` needs no scan of the buffer."""

    def add(self, source: str, time: str, chunk: str) -> list[LogLine]:
        """Add one write (it may hold several lines, or end mid-line, or redraw a tqdm bar with \\r)."""
        added: list[LogLine] = []
        text = self._partial.pop(source, "") + chunk.replace("\r\n", "\n")
        parts = text.split("\n")
        if not text.endswith("\n"):
            # keep an unterminated tail only while it is short (a progress bar); else show it now
            tail = parts.pop()
            if len(tail) < MAX_PARTIAL_LINE:
                self._partial[source] = tail
            else:
                parts.append(tail)
        for raw in parts:
            if not raw and not parts:
                continue
            line = raw.rsplit("\r", 1)[-1][:MAX_LINE_CHARS]  # \r redraws the line: keep the last state
            clean = sanitize(line)
            plain = strip_ansi(clean)
            if not plain.strip() and not line:
                continue
            self._seq += 1
            entry = LogLine(self._seq, source, time, clean, plain, level_of(plain))
            self._keep(entry)
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

    def _keep(self, entry: LogLine) -> None:
        lines = self.lines
        if lines.maxlen == 0:
            return
        if len(lines) == lines.maxlen:
            dropped = lines[0].source
            left = self._per_source[dropped] - 1
            if left:
                self._per_source[dropped] = left
            else:
                del self._per_source[dropped]
        lines.append(entry)
        self._per_source[entry.source] = self._per_source.get(entry.source, 0) + 1

    def sources(self) -> list[str]:
        return sorted(self._per_source)

    def source_count(self) -> int:
        return len(self._per_source)
