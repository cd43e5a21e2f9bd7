"""The live event stream from one ComfyUI server: a websocket that reconnects by itself.

* The socket is opened with our own ``clientId``; the first text message we send is the
  ``feature_flags`` negotiation so preview frames carry prompt and node ids (COMFY_API.md §2.1).
* On loss, the old socket is fully closed before a new one is opened with the same id: the
  server would otherwise silently orphan the new socket (§2.2).
* Reconnects back off exponentially (base, doubling, capped, with jitter) and are announced as
  ``Disconnected`` events carrying the delay; every successful (re)connect yields ``Connected``
  so the session can resync (§3.3).
* The handshake carries a same-origin ``Origin`` (newer servers, 0.28+, refuse a null or opaque
  one). A proxy that rewrites ``Host`` to a loopback address makes 0.3.75 refuse that Origin with
  403: the stream then drops it and connects again at once, as clients without one always could.
* The server's ``feature_flags`` reply is kept as ``server_flags`` (and handed to the client's
  feature detection, which is also forgotten on every (re)connect: the server may be a new one).
* When a websocket cannot be had but HTTP answers (a gateway without websocket support), the
  stream polls ``GET /prompt`` and yields ``Status`` events, trying the websocket again now and then.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from comfytui.core.comfy import events as ev
from comfytui.core.comfy import protocol
from comfytui.core.comfy.client import ComfyClient, same_origin, websocket_url
from comfytui.core.config import ReconnectSettings, redact_url
from comfytui.core.errors import ComfyTuiError, ServerUnreachable
from comfytui.core.logs import strip_controls

FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
POLL_ROUNDS_BEFORE_WEBSOCKET_RETRY = 30
MAX_FRAME_BYTES = 64 * 1024**2
"""A bigger websocket frame closes the socket (and reconnects): previews are a few MiB at most."""
CLOSE_MESSAGE_TOO_BIG = 1009


def backoff_delay(attempt: int, settings: ReconnectSettings, rng: Callable[[], float] = random.random) -> float:
    """Delay before reconnect ``attempt`` (1-based): base * 2**(attempt-1), capped, with equal jitter."""
    # The exponent is bounded: 2**1024 does not fit a float, and the dashboard retries for ever.
    raw = min(settings.max_delay_s, settings.base_delay_s * (2 ** min(max(0, attempt - 1), 64)))
    return raw / 2 + rng() * raw / 2


class ComfyStream:
    """Iterate ``events()`` for server events plus ``Connected``/``Disconnected``."""

    def __init__(
        self,
        client: ComfyClient,
        client_id: str,
        reconnect: ReconnectSettings,
        *,
        subscribe_logs: bool = False,
        poll_interval_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.reconnect = reconnect
        self.subscribe_logs = subscribe_logs
        self.poll_interval_s = poll_interval_s
        self._sleep = sleep
        self._rng = rng
        self.url = websocket_url(client.url, client_id)
        self._wake = asyncio.Event()
        headers = {k.lower() for k in client.request_headers}
        self.origin: str | None = None if "origin" in headers else same_origin(client.url)
        """The ``Origin`` the handshake sends (None: the user's own header, or dropped after a 403)."""
        self.server_flags: dict | None = None
        """The server's answer to our ``feature_flags`` message (None until it came)."""

    def reconnect_now(self) -> None:
        """Cut the current backoff wait short (the user pressed refresh)."""
        self._wake.set()

    async def _wait(self, delay: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def events(self) -> AsyncIterator[ev.ServerEvent | ev.Connected | ev.Disconnected]:
        # Imported on the first connect, not with the module: the dashboard's first frame needs none of it.
        import websockets
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus
        from websockets.typing import Origin

        attempt = 0
        connected_before = False
        while True:
            reason = "the server closed the connection"
            polling = False
            try:
                async with connect(
                    self.url,
                    origin=Origin(self.origin) if self.origin else None,
                    additional_headers=self.client.request_headers,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=min(self.client.settings.timeout_s, 10.0),
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                ) as socket:
                    await socket.send(json.dumps(FEATURE_FLAGS))
                    if self.subscribe_logs:
                        await self._subscribe_logs()
                    first = True
                    async for frame in socket:
                        event = protocol.decode_binary(frame) if isinstance(frame, bytes) else protocol.decode_text(frame)
                        if isinstance(event, ev.FeatureFlags):
                            self.server_flags = dict(event.flags)
                            self.client.note_feature_flags(event.flags)
                        if first and isinstance(event, ev.Status):
                            first = False
                            self.client.forget_server_features()
                            yield ev.Connected(self.client.display_url, event.sid or self.client_id, reconnect=connected_before)
                            connected_before = True
                            attempt = 0
                        yield event
            except InvalidStatus as exc:
                if exc.response.status_code == 403 and self.origin:
                    # 0.3.75 behind a proxy that rewrites Host: our Origin is "foreign" there.
                    self.origin = None
                    continue
                reason = f"websocket refused with HTTP {exc.response.status_code}"
                polling = True
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = _describe(exc)
            except ComfyTuiError as exc:
                reason = exc.message
            if polling:
                async for event in self._poll(connected_before, reason):
                    if isinstance(event, ev.Connected):
                        connected_before = True
                        attempt = 0
                    yield event
                    if isinstance(event, ev.Disconnected):
                        reason = event.reason
            attempt += 1
            if self.reconnect.max_attempts and attempt > self.reconnect.max_attempts:
                raise ServerUnreachable(
                    f"lost ComfyUI at {self.client.display_url} ({reason}); gave up after {attempt - 1} reconnect attempts"
                )
            delay = backoff_delay(attempt, self.reconnect, self._rng)
            yield ev.Disconnected(self.client.display_url, reason, delay, attempt)
            await self._wait(delay)

    async def _subscribe_logs(self) -> None:
        try:
            await self.client.subscribe_logs(self.client_id, True)
        except ComfyTuiError:
            pass  # a gateway may hide /internal; logs are a nicety, not a reason to drop the stream

    async def _poll(self, connected_before: bool, why: str) -> AsyncIterator[ev.ServerEvent | ev.Connected | ev.Disconnected]:
        """HTTP polling fallback: ``GET /prompt`` every interval, for a while, then retry the websocket."""
        last: int | None = None
        for _round in range(POLL_ROUNDS_BEFORE_WEBSOCKET_RETRY):
            try:
                remaining = await self.client.queue_remaining()
            except ComfyTuiError as exc:
                yield ev.Disconnected(self.client.display_url, exc.message, None, 0)
                return
            if last is None:
                yield ev.Connected(self.client.display_url, self.client_id, reconnect=connected_before, via=f"polling ({why})")
            if remaining != last:
                yield ev.Status(remaining)
                last = remaining
            await self._sleep(self.poll_interval_s)


def _describe(exc: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed

    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is ComfyUI running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionClosed):
        if exc.sent is not None and exc.sent.code == CLOSE_MESSAGE_TOO_BIG:
            return f"the server sent a message over the {MAX_FRAME_BYTES // 1024**2} MiB frame cap; reconnecting"
        said = strip_controls(exc.rcvd.reason)[:200] if exc.rcvd and exc.rcvd.reason else ""
        return "the connection was closed" + (f" ({said})" if said else "")
    text = str(exc) or exc.__class__.__name__
    return redact_url(text)
