"""The filter words the History and Queue panes share (``/``): free text plus ``status:S``
(comma-separated), ``server:S`` (a configured name or part of the URL; a full URL is exact) and
``since:W`` / ``until:W`` (``2h``, ``3d``, ``2024-05-01``); and how a pane names a server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from comfytui.core.errors import InputError
from comfytui.core.queue.fleet import is_pool
from comfytui.core.store.db import FINISHED, HistoryFilter, server_key

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float | None = None) -> float:
    """``2h`` / ``3d`` (an age) or ``2024-05-01`` / ``2024-05-01T12:00`` (a local date/time)."""
    now = time.time() if now is None else now
    match = _AGE.match(text.strip().lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"):
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            continue
    raise InputError(f"not a date or an age: {text!r} (try 2h, 3d or 2024-05-01)")


def parse_filter(
    text: str, status: str | None = None, limit: int = 10_000, statuses: Sequence[str] = FINISHED
) -> HistoryFilter:
    """The filter bar's words as a store query: ``status:S`` (comma-separated, one of
    ``statuses``), ``server:S``, ``since:W`` / ``until:W``; what is left is free text. ``status``
    is a status the pane picked otherwise (History's ``f`` cycle)."""
    wanted_statuses: list[str] = [status] if status else []
    server = None
    since = until = None
    words: list[str] = []
    for word in text.split():
        key, sep, value = word.partition(":")
        if sep and value and key in ("status", "server", "since", "until"):
            if key == "status":
                wanted = [s for s in value.split(",") if s]
                unknown = [s for s in wanted if s not in statuses]
                if unknown:
                    raise InputError(f"unknown status {unknown[0]!r}: {', '.join(statuses)}")
                wanted_statuses = wanted if not status else [s for s in wanted if s == status] or ["-none-"]
            elif key == "server":
                server = value
            elif key == "since":
                since = parse_when(value)
            else:
                until = parse_when(value)
        else:
            words.append(word)
    # server:URL is exact; server:HOST (no scheme) matches part of the URL, after the query
    exact = server if server and "://" in server else None
    return HistoryFilter(status=tuple(wanted_statuses), text=" ".join(words), server=exact, since=since, until=until, limit=limit)


def server_part(text: str) -> str | None:
    """The ``server:`` word's value, whether exact (a URL) or partial."""
    for word in text.split():
        key, sep, value = word.partition(":")
        if key == "server" and sep and value:
            return value
    return None


def fleet_names(servers: Sequence[tuple[str, Any]] | None) -> dict[str, str] | None:
    """A fleet's servers as store key → configured name (``servers``: (name, Config) pairs);
    None with one server, where panes show no names."""
    if not servers or len(servers) < 2:
        return None
    return {server_key(config.server.url): name for name, config in servers}


def server_label(server: str, names: Mapping[str, str] | None = None) -> str:
    """A server as a pane shows it: its configured name (``names``: store key → name), ``any``
    for the fleet's shared queue, else host:port (the URL without its scheme)."""
    if names and server in names:
        return names[server]
    if is_pool(server):
        return "any"
    return server.split("://", 1)[-1]


def server_matches(part: str, server: str, names: Mapping[str, str] | None = None) -> bool:
    """``server:PART`` (no scheme) against a row: part of its name or of its URL."""
    part = part.lower()
    return part in server_label(server, names).lower() or (not is_pool(server) and part in server.lower())
