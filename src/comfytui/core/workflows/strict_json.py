"""``json.loads`` for files users hand comfytui: every failure is a ``SourcePositionError`` with
the file, line and column, including what Python's json accepts and nothing else does (``NaN``,
``Infinity``, ``1e999``) and nesting deep enough to exhaust the interpreter's recursion limit."""

from __future__ import annotations

import json
import re
from typing import Any

from comfytui.core.errors import SourcePositionError

__all__ = ["strict_json_loads"]

_STRING = r'"(?:[^"\\]|\\.)*"'
"""A JSON string: skipped when looking for a token outside strings."""


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):  # 1e999: Python's json reads it as infinity
        raise _NonFinite(literal)
    return value


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def strict_json_loads(text: str, path: str) -> Any:
    """``json.loads`` for user files: a syntax error, ``NaN``/``Infinity`` (which Python's json
    accepts and no server or browser does) and nesting too deep to parse raise
    ``SourcePositionError`` with the 1-based line and column."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise SourcePositionError(path, exc.lineno, exc.colno, exc.msg) from None
    except _NonFinite as exc:
        token = re.compile(f"{_STRING}|(?P<constant>{re.escape(str(exc))})")
        offset = next((m.start("constant") for m in token.finditer(text) if m.group("constant")), 0)
        line, column = _position(text, offset)
        raise SourcePositionError(
            path, line, column, f"{exc} is not valid JSON (a number must be finite; use a real value)"
        ) from None
    except RecursionError:
        line, column = _position(text, _deep_offset(text))
        raise SourcePositionError(path, line, column, "arrays/objects nested too deeply to read") from None


def _deep_offset(text: str, limit: int = 500) -> int:
    """Where nesting first passes ``limit`` (strings not told apart: this is only a position hint)."""
    depth = 0
    for offset, char in enumerate(text):
        depth += char in "[{"
        if depth > limit:
            return offset
    return 0
