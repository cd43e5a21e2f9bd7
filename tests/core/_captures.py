"""The recorded ComfyUI 0.3.75 websocket captures (copied from the API study into ``data/``).

Each line of a ``.jsonl`` file is one record: ``kind`` ``json`` (a whole message in ``msg``),
``binary`` (a summary: ``event_type``, ``length``, ``head_hex`` = the first 48 bytes and, per
type, ``image_len``/``image_magic_hex`` or ``metadata``/``metadata_len`` or ``node_id``/``text``)
or ``note`` (an HTTP request made during the capture).
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
FILES = ("ws_capture_all.jsonl", "ws_reconnect_logs.jsonl", "ws_transcript.jsonl")

OWN_A = "cap-A-e6c98d31"
OWN_B = "cap-B-551ffc82"


@cache
def records(name: str) -> tuple[dict[str, Any], ...]:
    with open(DATA / name, encoding="utf-8") as handle:
        return tuple(json.loads(line) for line in handle if line.strip())


def messages(name: str, sock: str | None = None, scenario: str | None = None) -> list[dict[str, Any]]:
    """JSON messages, optionally of one socket and one scenario, in capture order."""
    return [
        r["msg"]
        for r in records(name)
        if r["kind"] == "json"
        and (sock is None or r["sock"] == sock)
        and (scenario is None or r.get("scenario") == scenario)
    ]


def timed_messages(name: str, sock: str, scenario: str | None = None) -> list[tuple[float, dict[str, Any]]]:
    return [
        (r["t"], r["msg"])
        for r in records(name)
        if r["kind"] == "json" and r["sock"] == sock and (scenario is None or r.get("scenario") == scenario)
    ]


def binaries(name: str) -> list[dict[str, Any]]:
    return [r for r in records(name) if r["kind"] == "binary"]


def notes(name: str, note: str) -> list[dict[str, Any]]:
    return [r for r in records(name) if r["kind"] == "note" and r.get("note") == note]


def submitted_prompt(scenario: str) -> tuple[str, dict[str, Any]]:
    """(prompt_id, prompt) of the POST /prompt made in ``scenario`` of ws_capture_all."""
    for r in notes("ws_capture_all.jsonl", "POST /prompt"):
        if r.get("scenario") == scenario and r.get("status") == 200:
            return r["response"]["prompt_id"], r["request"]["prompt"]
    raise LookupError(scenario)


def rebuild_frame(summary: dict[str, Any]) -> bytes | None:
    """A binary frame rebuilt from its summary, or None when the summary is too thin.

    The header bytes come from ``head_hex``; type-4 metadata from the recorded ``metadata``
    (serialised as the server does, and checked against ``metadata_len`` and ``head_hex``);
    image bytes beyond the head are padding after the recorded magic.
    """
    head_hex = summary.get("head_hex")
    if not head_hex:
        return None
    head = bytes.fromhex(head_hex)
    length = summary["length"]
    event_type = summary["event_type"]
    if event_type == 3 or len(head) == length:
        return head if len(head) == length else None
    if event_type == 1:
        return head + bytes(length - len(head))
    if event_type == 4:
        meta = json.dumps(summary["metadata"]).encode()
        if len(meta) != summary["metadata_len"]:
            return None
        image = bytes.fromhex(summary["image_magic_hex"])
        image += bytes(summary["image_len"] - len(image))
        frame = struct.pack(">II", 4, len(meta)) + meta + image
        return frame if frame[: len(head)] == head and len(frame) == length else None
    return None
