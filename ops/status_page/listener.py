"""The status page on a listener of its own (`STATUS_PORT`): a thread with its own event loop serves
`/status` and `/status.json`, so a crowd — or a flood — reading the public page does not queue behind, or
ahead of, the bot's own work on its event loop: alerts keep going out on time.

Only the snapshot crosses threads: an immutable `Cached`, replaced whole by the bot's loop. The refresh
stays on the bot's loop (its database engine belongs to that loop): a request that finds the snapshot due
asks for one there with `call_soon_threadsafe` (at most once a second), and only the very first request
(or the first after a reload changed the config) waits for it, with `run_coroutine_threadsafe`.

The thread is a daemon that serves until `stop`. The bot runs it as a duty (`serve` returns when the
thread ends): one that ends on its own is started again, and `/healthz` shows it like every duty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from aiohttp import web

from ops.status_page.serve import Cached, StatusPage

log = logging.getLogger(__name__)

KICK_EVERY = 1.0  # seconds: at most this often a request asks the bot's loop for a refresh
STOP_WAIT = 5.0  # seconds for the thread to end


class OwnListener:
    def __init__(self, page: StatusPage, host: str, port: int) -> None:
        self.page = page
        self.host = host
        self.port = port  # the bound port once started (0 picks a free one)
        self._home: asyncio.AbstractEventLoop | None = None  # the bot's loop
        self._loop: asyncio.AbstractEventLoop | None = None  # this listener's
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._kicked = float("-inf")
        self._ended: asyncio.Event | None = None  # on the bot's loop: set when the thread ends

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def serve(self) -> None:
        """Start (if not serving) and return when the thread ends; cancelled, it stops the thread."""
        if not self.alive:
            await self.start()
        assert self._ended is not None
        try:
            await self._ended.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Bind and serve; an address that cannot be bound raises its OSError here, in the caller."""
        self._home = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="status-page", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._error is not None:
            raise self._error

    async def stop(self) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            await asyncio.to_thread(thread.join, STOP_WAIT)
        self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to `start`, or logged: the thread is ending
            if not self._ready.is_set():
                self._error = exc
            else:
                log.error("status page listener ended: %s: %s", type(exc).__name__, exc)
        finally:
            self._ready.set()
            home, ended = self._home, self._ended
            if home is not None and ended is not None:
                with contextlib.suppress(RuntimeError):  # the bot's loop is closed: nobody waits
                    home.call_soon_threadsafe(ended.set)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/status", self._html)
        app.router.add_get("/status.json", self._json)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _html(self, _request: web.Request) -> web.Response:
        return await self.page.html_from(self._snapshot)

    async def _json(self, _request: web.Request) -> web.Response:
        return await self.page.json_from(self._snapshot)

    async def _snapshot(self) -> Cached | None:
        """The bot loop's snapshot: as it is while current (a refresh asked for when due), else waited for."""
        page, home = self.page, self._home
        assert home is not None
        cached = page.cached
        if cached is not None and cached.generation == page.current.generation:
            now = time.monotonic()
            if now - self._kicked >= KICK_EVERY and page.due():
                self._kicked = now
                home.call_soon_threadsafe(page.refresh_if_due)
            return cached
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(page.current_snapshot(), home))
