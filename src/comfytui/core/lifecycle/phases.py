"""The startup phase machine: pulled → created → running → http_ready → ws_connected.

``startup(backend, url=...)`` is an async iterator of ``PhaseChanged``. Between phase changes it
also yields the latest log line (``changed=False``, at most about once a second) so a user sees
why a start takes long (first-start copying, Manager cache refresh, custom nodes importing).

Readiness is ``GET /system_stats`` answering 200, then a websocket ``/ws?clientId=...`` whose
first ``status`` message arrives; both go through ``ComfyClient`` built from ``server`` (the
``[server]`` settings), so a gateway in front of ComfyUI gets its credentials. A container (or process) that exits meanwhile ends the machine
with a ``FAILED`` event and then ``StartupFailed`` (exit code and last log lines); so does the
timeout. With ``retries`` the backend is restarted that many times before giving up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping

from comfytui.core.comfy.client import ComfyClient, websocket_url
from comfytui.core.config import ServerSettings
from comfytui.core.lifecycle.backend import Backend
from comfytui.core.lifecycle.types import Phase, PhaseChanged, ServiceState, StartupFailed

LAST_LINES = 20


PROBE_TIMEOUT_S = 2.0


def probe_settings(url: str, server: ServerSettings | None, headers: Mapping[str, str] | None) -> ServerSettings:
    """The ``[server]`` settings (gateway auth included) aimed at ``url``, with a short timeout."""
    base = server or ServerSettings()
    extra = {**base.headers, **(headers or {})}
    return dataclasses.replace(base, url=url, timeout_s=PROBE_TIMEOUT_S, headers=extra)


async def first_status_message(url: str, headers: Mapping[str, str], timeout_s: float = 10.0) -> dict:
    """Open the websocket, read until the first ``status`` message, close; returns that message."""
    from websockets.asyncio.client import connect

    target = websocket_url(url, uuid.uuid4().hex)
    async with asyncio.timeout(timeout_s):
        async with connect(
            target, additional_headers=dict(headers), open_timeout=timeout_s, max_size=None, proxy=None
        ) as ws:
            async for message in ws:
                if isinstance(message, bytes):
                    continue
                with contextlib.suppress(ValueError):
                    data = json.loads(message)
                    if isinstance(data, dict) and data.get("type") == "status":
                        return data
    raise ConnectionError("the websocket closed before a status message")


async def _last_lines(backend: Backend, limit: int = LAST_LINES) -> list[str]:
    run_lines = getattr(backend, "run_lines", None)
    if callable(run_lines):
        return run_lines(limit)
    lines: list[str] = []
    with contextlib.suppress(Exception):
        async with contextlib.aclosing(backend.logs(follow=False, tail=limit)) as stream:
            async for line in stream:
                lines.append(line.text)
    return lines[-limit:]


async def startup(
    backend: Backend,
    *,
    url: str | None = None,
    server: ServerSettings | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
    retries: int = 0,
    poll_interval_s: float = 0.2,
    ws_timeout_s: float = 15.0,
    log_interval_s: float = 1.0,
) -> AsyncIterator[PhaseChanged]:
    """Bring ``backend`` up and report each phase; raises ``StartupFailed`` after a FAILED event.

    ``server``: the ``[server]`` settings whose gateway auth and headers the probes carry (``url``
    defaults to the backend's); ``headers`` adds to them."""
    url = url or backend.url
    began = time.monotonic()

    def event(
        phase: Phase,
        detail: str,
        line: str | None = None,
        changed: bool = True,
        attempt: int = 1,
        error: StartupFailed | None = None,
    ) -> PhaseChanged:
        return PhaseChanged(phase, detail, line, round(time.monotonic() - began, 2), changed, attempt, error)

    if not await backend.image_present():
        error = StartupFailed(f"{backend.image} is not present: pull it first")
        yield event(Phase.FAILED, error.reason, error=error)
        raise error
    yield event(Phase.PULLED, f"{backend.image} is present")
    before = await backend.status()
    if before.state is ServiceState.ABSENT:
        await backend.create()
        yield event(Phase.CREATED, f"created {backend.name}")
    else:
        yield event(Phase.CREATED, f"{backend.name} exists ({before.state.value})")

    latest: list[str | None] = [None]

    async def follow_logs() -> None:
        with contextlib.suppress(Exception):
            async with contextlib.aclosing(backend.logs(follow=True, tail=1)) as stream:
                async for line in stream:
                    if line.text.strip():
                        latest[0] = line.text

    deadline = began + timeout_s
    async with ComfyClient(probe_settings(url, server, headers)) as client:
        attempt = 1
        while True:
            if attempt == 1:
                await backend.start()
            else:
                await backend.restart()
            status = await backend.status()
            yield event(
                Phase.RUNNING,
                f"{backend.name} is running" + (f" (pid {status.pid})" if status.pid else ""),
                attempt=attempt,
            )
            follower = asyncio.create_task(follow_logs())
            failure: StartupFailed | None = None
            try:
                shown: str | None = None
                last_shown = time.monotonic()
                last_status_check = 0.0
                ready = False
                while not ready:
                    now = time.monotonic()
                    if now >= deadline:
                        failure = StartupFailed(
                            f"ComfyUI did not answer GET {url}/system_stats within {timeout_s:.0f}s",
                            last_lines=await _last_lines(backend),
                        )
                        break
                    if now - last_status_check >= 0.5:
                        last_status_check = now
                        status = await backend.status()
                        if status.state is not ServiceState.RUNNING:
                            await asyncio.sleep(0.3)  # let the log catch the last lines
                            code = status.exit_code
                            failure = StartupFailed(
                                f"{backend.name} {status.state.value} during startup"
                                + (f" with exit code {code}" if code is not None else ""),
                                exit_code=code,
                                last_lines=await _last_lines(backend),
                            )
                            break
                    code = await client.probe()
                    if code == 200:
                        ready = True
                        break
                    if latest[0] != shown and time.monotonic() - last_shown >= log_interval_s:
                        shown, last_shown = latest[0], time.monotonic()
                        yield event(
                            Phase.RUNNING,
                            "waiting for HTTP" + (f" (last answer {code})" if code else ""),
                            shown,
                            changed=False,
                            attempt=attempt,
                        )
                    await asyncio.sleep(poll_interval_s)
                if ready:
                    yield event(
                        Phase.HTTP_READY, f"GET {url}/system_stats answered 200", latest[0], attempt=attempt
                    )
                    try:
                        await first_status_message(
                            url, client.request_headers, min(ws_timeout_s, max(1.0, deadline - time.monotonic()))
                        )
                    except Exception as exc:  # noqa: BLE001 - any websocket failure fails the start
                        failure = StartupFailed(
                            f"the websocket {websocket_url(url, '...')} did not connect: {exc}",
                            last_lines=await _last_lines(backend),
                        )
                    else:
                        yield event(
                            Phase.WS_CONNECTED,
                            "websocket connected, first status received",
                            latest[0],
                            attempt=attempt,
                        )
                        return
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await follower
            assert failure is not None
            if attempt <= retries and time.monotonic() < deadline:
                yield event(
                    Phase.RUNNING,
                    f"retry {attempt}/{retries} after: {failure.reason}",
                    latest[0],
                    changed=False,
                    attempt=attempt,
                )
                attempt += 1
                continue
            yield event(Phase.FAILED, failure.reason, latest[0], attempt=attempt, error=failure)
            raise failure
