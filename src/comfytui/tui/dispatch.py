"""The dashboard as a dispatcher: while it is open it sends the local queue to its server,
unless another process (``comfytui daemon``, another dashboard) holds the dispatcher lock.

The dispatcher shares the dashboard's ``ComfySession`` (one websocket, so the Queue pane sees
the progress of the jobs it sends); the app runs and closes that session, not the dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from comfytui.core.comfy.session import ComfySession
from comfytui.core.config import Config
from comfytui.core.errors import ComfyTuiError
from comfytui.core.queue.dispatcher import Dispatcher, DispatcherBusy, HistoryRecorder
from comfytui.core.store.db import Store

log = logging.getLogger(__name__)


class LentSession:
    """The dashboard's session as the dispatcher sees it: ``run`` only waits (the app already
    runs the session) and ``aclose`` does nothing (the app closes it on exit)."""

    def __init__(self, session: ComfySession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


class DashboardDispatch:
    """Runs a ``Dispatcher`` for the dashboard's server whenever the lock is free; ``line`` says
    who dispatches (for the Queue pane's title)."""

    RETRY_S = 3.0

    def __init__(self, config: Config, store: Store, session: ComfySession) -> None:
        self.config = config
        self.store = store
        self.session = session
        self.dispatcher: Dispatcher | None = None
        self.holder: str | None = None
        """Who holds the lock when it is not us (``daemon pid 1234 on host``)."""
        self.on_change: Any = None
        self.on_recorded: Any = None
        """Called with the ids the dispatcher read from ``/history`` into the store."""

    @property
    def ours(self) -> bool:
        return self.dispatcher is not None

    @property
    def line(self) -> str:
        if self.ours:
            return "dispatch: this dashboard"
        if self.holder:
            return f"dispatch: {self.holder}"
        return "dispatch: none"

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _recorded(self, ids: list[str]) -> None:
        if self.on_recorded is not None:
            self.on_recorded(ids)

    async def run(self) -> None:
        """Until cancelled: dispatch when we can, else watch who does and try again."""
        # Not the holder: the holder records /history in its own process and this dashboard
        # would not hear of a fast foreign job; so it reads /history itself meanwhile.
        watcher = HistoryRecorder(self.store, self.session, self.session.client.url)
        watcher.on_recorded = self._recorded
        try:
            await self._run(watcher)
        finally:
            self.session.remove_listener(watcher.on_update)
            await watcher.aclose()

    async def _run(self, watcher: HistoryRecorder) -> None:
        while True:
            dispatcher = Dispatcher(self.config, store=self.store, session=LentSession(self.session))  # type: ignore[arg-type]
            dispatcher.on_recorded = self._recorded
            try:
                await dispatcher.acquire()
            except DispatcherBusy as busy:
                lock = busy.holder
                self.holder = f"pid {lock.pid} on {lock.host}"
                self.session.remove_listener(watcher.on_update)  # once, however many retries
                self.session.add_listener(watcher.on_update)
                self._changed()
                await asyncio.sleep(self.RETRY_S)
                continue
            self.dispatcher, self.holder = dispatcher, None
            self.session.remove_listener(watcher.on_update)
            self._changed()
            try:
                await dispatcher.run()  # acquire again inside: our own token, so it succeeds
            except DispatcherBusy:
                pass
            except ComfyTuiError as exc:  # lost the lock to a takeover, or the store failed
                log.warning("the dashboard's dispatcher stopped: %s", exc)
            finally:
                self.dispatcher = None
                self._changed()
            await asyncio.sleep(self.RETRY_S)
