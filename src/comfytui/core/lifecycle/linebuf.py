"""Splitting a byte stream into log lines with a bounded partial-line buffer.

A backend that prints without newlines (a progress bar drawn with ``\\r``, a binary dump) would
otherwise make the buffer of the unfinished line grow for as long as it runs.
"""

from __future__ import annotations

MAX_LINE = 64 * 1024
"""Bytes an unfinished line may hold before it is emitted as a line of its own."""

TRUNCATED = b" [comfytui: line cut, 64 KiB without a newline]"
"""Appended to a line that was cut at ``MAX_LINE``; the rest follows as the next line(s)."""


class LineSplitter:
    """``feed`` bytes, get the complete lines (without ``\\n``); the tail waits for more."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        *lines, rest = (self._pending + data).split(b"\n")
        while len(rest) > self.limit:
            lines.append(rest[: self.limit] + TRUNCATED)
            rest = rest[self.limit :]
        self._pending = rest
        return lines

    def flush(self) -> bytes:
        """The unfinished line so far (the stream ended), leaving the buffer empty."""
        rest, self._pending = self._pending, b""
        return rest

    def reset(self) -> None:
        self._pending = b""
