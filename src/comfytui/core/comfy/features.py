"""What a ComfyUI server can do, decided in one place (COMFY_API.md §5.6; docs/SERVERS.md).

Three kinds of evidence, gathered once per ``ComfyClient`` and cached there:

* the version in ``GET /system_stats`` (``system.comfyui_version``);
* the feature flags the server states: ``GET /features`` and the websocket ``feature_flags`` reply;
* a probe: ``GET /api/jobs?limit=1`` answers 200 with ``pagination`` on servers with the jobs API,
  404 on 0.3.75.

A probe answer beats the version (a fork may renumber), the version beats a guess, and when
nothing is known the 0.3.75 routes are used: they exist on every server. Pure: no I/O here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from comfytui.core.errors import InputError

Version = tuple[int, int, int]

PREVIEW_METHOD_SINCE: Version = (0, 5, 0)
"""``extra_data.preview_method`` is read per prompt."""
JOBS_API_SINCE: Version = (0, 6, 0)
"""``GET /api/jobs`` and ``GET /api/jobs/{id}``."""
ALL_DEVICES_SINCE: Version = (0, 23, 0)
"""``/system_stats`` lists every device, the primary first."""
STRICT_PROMPT_ID_SINCE: Version = (0, 25, 0)
"""A client ``prompt_id`` must be a lowercase canonical UUID."""
JOBS_CANCEL_SINCE: Version = (0, 26, 0)
"""``POST /api/jobs/{id}/cancel`` and ``POST /api/jobs/cancel``."""
ORIGIN_CHECKED_SINCE: Version = (0, 28, 0)
"""A null or opaque ``Origin`` is refused: comfytui sends its own same-origin one on the websocket."""

PREVIEW_METHODS = ("default", "none", "auto", "latent2rgb", "taesd")
NEWER_SERVER_FLAGS = ("assets", "node_replacements", "supports_model_type_tags")
"""Flags only newer servers state (§5.5): with no readable version they mark a newer server."""

_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text: Any) -> Version | None:
    """``"0.3.75"`` -> ``(0, 3, 75)``; ``"v0.26.1-rc1"`` -> ``(0, 26, 1)``; unreadable -> None."""
    if not isinstance(text, str):
        return None
    match = _VERSION.match(text)
    if not match:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return (major, minor, patch)


def canonical_prompt_id(value: str) -> str:
    """The one place a client-supplied ``prompt_id`` is checked: a UUID in any spelling becomes the
    lowercase hyphenated form newer servers demand (0.25+, §5.2) and 0.3.75 accepts; anything
    else is refused here rather than by the server."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise InputError(
            f"prompt id {value!r} is not a UUID: newer ComfyUI servers accept only canonical UUIDs "
            "(e.g. 1b4e28ba-2fa1-11d2-883f-0016d3cca427); leave it out to have one made"
        ) from None
    return str(parsed)


def check_preview_method(value: str) -> str:
    if value not in PREVIEW_METHODS:
        raise InputError(f"unknown preview method {value!r}: use one of {', '.join(PREVIEW_METHODS)}")
    return value


@dataclass(frozen=True)
class Evidence:
    """What the server said. ``jobs_probe`` is the status of ``GET /api/jobs?limit=1`` (None: not
    asked or no answer); ``jobs_probe_paginated`` whether a 200 carried ``pagination``."""

    version_text: str = ""
    flags: Mapping[str, Any] = field(default_factory=dict)
    jobs_probe: int | None = None
    jobs_probe_paginated: bool = False


@dataclass(frozen=True)
class ServerFeatures:
    """What comfytui will use on one server, and why (``reasons``, shown by ``describe``)."""

    version: Version | None
    version_text: str
    flags: dict[str, Any]
    jobs_api: bool
    """Queue and history listing through ``/api/jobs`` (else ``/queue`` + ``/history``)."""
    jobs_cancel: bool
    """Cancel through ``/api/jobs/{id}/cancel`` (else ``POST /queue {delete}`` + ``/interrupt``)."""
    preview_method: bool
    """``extra_data.preview_method`` is sent (else it is left out)."""
    all_devices: bool
    strict_prompt_id: bool
    origin_checked: bool
    reasons: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def newer(self) -> bool:
        """A server past the 0.3.x line (any of the newer features)."""
        return self.jobs_api or self.preview_method or self.strict_prompt_id

    def without_jobs_cancel(self, why: str) -> ServerFeatures:
        """The cancel route answered 404/405 after all: the classic routes from now on."""
        return replace(self, jobs_cancel=False, reasons={**self.reasons, "jobs_cancel": why})

    def describe(self) -> list[str]:
        return [f"{name}: {'yes' if getattr(self, name) else 'no'} ({why})" for name, why in self.reasons.items()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version_text or None,
            "jobs_api": self.jobs_api,
            "jobs_cancel": self.jobs_cancel,
            "preview_method": self.preview_method,
            "all_devices": self.all_devices,
            "strict_prompt_id": self.strict_prompt_id,
            "origin_checked": self.origin_checked,
            "flags": dict(self.flags),
            "reasons": dict(self.reasons),
        }


def _since(version: Version | None, since: Version) -> bool | None:
    return None if version is None else version >= since


def _v(version: Version) -> str:
    return ".".join(str(p) for p in version)


def decide(evidence: Evidence) -> ServerFeatures:
    """Turn what the server said into what comfytui uses. Unknown means the 0.3.75 routes."""
    version = parse_version(evidence.version_text)
    flags = dict(evidence.flags)
    reasons: dict[str, str] = {}
    shown = evidence.version_text or "unknown"

    # Jobs API: the probe decides; the version only when the probe could not be read.
    if evidence.jobs_probe == 200 and evidence.jobs_probe_paginated:
        jobs_api, reasons["jobs_api"] = True, "GET /api/jobs answered 200 with pagination"
    elif evidence.jobs_probe in (404, 405):
        jobs_api, reasons["jobs_api"] = False, f"GET /api/jobs answered {evidence.jobs_probe}"
    elif evidence.jobs_probe == 200:
        jobs_api, reasons["jobs_api"] = False, "GET /api/jobs answered 200 without pagination (not the jobs API)"
    else:
        jobs_api = bool(_since(version, JOBS_API_SINCE))
        reasons["jobs_api"] = f"probe unanswered ({evidence.jobs_probe}); version {shown}"

    newer_flags = sorted(k for k in NEWER_SERVER_FLAGS if k in flags)
    if version is not None:
        jobs_cancel = jobs_api and version >= JOBS_CANCEL_SINCE
        reasons["jobs_cancel"] = f"version {shown} {'>=' if version >= JOBS_CANCEL_SINCE else '<'} {_v(JOBS_CANCEL_SINCE)}" + (
            "" if jobs_api else ", no jobs API")
        preview = version >= PREVIEW_METHOD_SINCE
        reasons["preview_method"] = f"version {shown} {'>=' if preview else '<'} {_v(PREVIEW_METHOD_SINCE)}"
    else:
        # No version: try the cancel route where the jobs API exists (404 falls back at use).
        jobs_cancel = jobs_api
        reasons["jobs_cancel"] = "version unknown; " + ("tried, 404 falls back" if jobs_api else "no jobs API")
        preview = jobs_api or bool(newer_flags)
        reasons["preview_method"] = "version unknown; " + (
            "jobs API present" if jobs_api else f"newer flags {newer_flags}" if newer_flags else "assumed absent")
    all_devices = bool(_since(version, ALL_DEVICES_SINCE))
    reasons["all_devices"] = f"version {shown}"
    strict = version is None or version >= STRICT_PROMPT_ID_SINCE
    reasons["strict_prompt_id"] = f"version {shown} (ids are always canonical UUIDs)"
    origin = version is None or version >= ORIGIN_CHECKED_SINCE
    reasons["origin_checked"] = f"version {shown} (the websocket always sends a same-origin Origin)"
    return ServerFeatures(
        version=version,
        version_text=evidence.version_text,
        flags=flags,
        jobs_api=jobs_api,
        jobs_cancel=jobs_cancel,
        preview_method=preview,
        all_devices=all_devices,
        strict_prompt_id=strict,
        origin_checked=origin,
        reasons=reasons,
    )
