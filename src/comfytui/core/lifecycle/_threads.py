"""Run a blocking iterator (a streamed podman response) in a daemon thread, as an async iterator.

``asyncio.to_thread`` is wrong for endless streams: a read blocked in the default executor keeps
``asyncio.run`` waiting at shutdown. A daemon thread dies with the process, and closing the
iterator shuts the underlying socket down so the thread ends promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

_DONE = object()


async def iterate_in_thread[T](
    make_iter: Callable[[], Iterator[T]],
    on_close: Callable[[], None] | None = None,
    name: str = "comfytui-stream",
) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any, exc: BaseException | None = None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            loop.call_soon_threadsafe(queue.put_nowait, (item, exc))

    def worker() -> None:
        try:
            for item in make_iter():
                if stop.is_set():
                    return
                put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            if not stop.is_set():
                put(_DONE, exc)
            return
        put(_DONE)

    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = await queue.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        if on_close is not None:
            with contextlib.suppress(Exception):
                on_close()


def shutdown_response(response: Any) -> None:
    """Unblock a thread reading a streamed requests/urllib3 response, then close it."""
    raw = getattr(response, "raw", None)
    for path in (("_fp", "fp", "raw", "_sock"), ("_connection", "sock"), ("connection", "sock")):
        obj: Any = raw
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, socket.socket):
            with contextlib.suppress(OSError):
                obj.shutdown(socket.SHUT_RDWR)
            break
    with contextlib.suppress(Exception):
        response.close()
