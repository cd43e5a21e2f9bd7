"""One redaction for every output path: errors, logs, JSON output, notifications, the UI.

It hides the secrets a URL can carry, wherever the URL sits in a text: the user-info part
(``user:password@``, a password that itself holds ``@``, a bare token used as user name) and
secret-looking query parameters (``?token=``, ``&api_key=``...), plus ``Bearer``/``Basic``
credentials quoted from a header. No imports from the rest of comfytui: ``errors`` uses it.
"""

from __future__ import annotations

import re

MASK = "****"

# The user-info runs up to the *last* ``@`` before the path: a password may contain ``@``.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@]*(?:@[^\s/?#@]*)*)@(?=[^\s/?#@]*)")
_SECRET_PARAM = re.compile(
    r"(?P<key>[?&;](?:access_?token|token|api[_-]?key|apikey|key|auth|password|passwd|pwd|secret|sig|signature"
    r"|client_secret|session|x-api-key)=)[^&#\s\"']*",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"\b(?P<kind>Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE)


def _userinfo(match: re.Match[str]) -> str:
    user, sep, _password = match.group("userinfo").partition(":")
    if sep:
        return f"{match.group('scheme')}{user}:{MASK}@"
    return f"{match.group('scheme')}{MASK}@"  # a lone user name in a URL is usually a token


def redact(text: str) -> str:
    """``text`` with URL credentials, secret query parameters and auth header values masked."""
    if "://" not in text and "=" not in text and not _AUTH_HEADER.search(text):
        return text
    text = _USERINFO.sub(_userinfo, text)
    text = _SECRET_PARAM.sub(lambda m: m.group("key") + MASK, text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group('kind')} {MASK}", text)
