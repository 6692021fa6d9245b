"""The status page on a listener of its own (`STATUS_LISTEN`): a thread with its own event loop serves
`/status` and `/status.json`, so a crowd — or a flood — reading the public page does not queue behind, or
ahead of, the bot's own work on its event loop: alerts keep going out on time.

Only the snapshot crosses threads: an immutable `Cached`, replaced whole by the bot's loop. The refresh
stays on the bot's loop (its database engine belongs to that loop): a request that finds the snapshot due
asks for one there with `call_soon_threadsafe` (at most once a second). Without a current snapshot (the
very first request, the first after a reload changed the config, a database down since start) requests
share one wait on the bot's loop, and an answer of "none" is kept for a second: a flood then costs the
bot's loop one call a second, never one per request.

Each start is a `_Run` of its own (thread, loops, events), so a thread slow to end can never signal, or be
taken for, the next. The bot runs the listener as a duty (`serve` returns when the thread ends): one that
ends on its own is started again, and `/healthz` shows it like every duty.
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

KICK_EVERY = 1.0  # seconds: at most this often a request asks the bot's loop for something
STOP_WAIT = 5.0  # seconds for the thread to end
SHUTDOWN = 1.0  # seconds aiohttp gives requests in flight when the listener stops


class _Run:
    """One start of the listener: its thread, its loop and the events between it and the bot's loop."""

    def __init__(self, home: asyncio.AbstractEventLoop) -> None:
        self.home = home  # the bot's loop
        self.ended = asyncio.Event()  # on the bot's loop: set when the thread ends
        self.ready = threading.Event()  # bound (or failed to)
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the thread's, once it runs
        self.stopping: asyncio.Event | None = None
        self.thread: threading.Thread | None = None


class OwnListener:
    def __init__(self, page: StatusPage, host: str, port: int) -> None:
        self.page = page
        self.host = host
        self.port = port  # the bound port once started (0 picks a free one; a restart binds the same)
        self._run: _Run | None = None
        self._kicked = float("-inf")  # the listener's loop only
        self._waiting: asyncio.Future[Cached | None] | None = None  # the listener's loop only
        self._none_until = float("-inf")  # the bot's loop answered "no snapshot": kept until then

    @property
    def alive(self) -> bool:
        """Bound and serving (its thread started, the socket listening, not ended)."""
        run = self._run
        return (
            run is not None
            and run.thread is not None
            and run.thread.is_alive()
            and run.ready.is_set()
            and run.error is None
        )

    async def serve(self) -> None:
        """Start (if not serving) and return when the thread ends; cancelled, it stops the thread."""
        try:
            if not self.alive:
                await self.start()
            assert self._run is not None
            await self._run.ended.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Bind and serve; an address that cannot be bound raises its OSError here, in the caller."""
        run = self._run = _Run(asyncio.get_running_loop())
        run.thread = threading.Thread(target=self._thread, args=(run,), name="status-page", daemon=True)
        run.thread.start()
        try:
            await asyncio.to_thread(run.ready.wait)
        except asyncio.CancelledError:
            await self.stop()
            raise
        if run.error is not None:
            raise run.error

    async def stop(self) -> None:
        run = self._run
        if run is None or run.thread is None:
            return
        await asyncio.to_thread(run.ready.wait)  # the thread sets it once its loop and stop event exist
        loop, stopping = run.loop, run.stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        await asyncio.to_thread(run.thread.join, STOP_WAIT)
        if run.thread.is_alive():
            log.warning("status page listener: its thread did not end within %.0f s", STOP_WAIT)

    def _thread(self, run: _Run) -> None:
        try:
            asyncio.run(self._serve(run))
        except BaseException as exc:  # reported to `start`, or logged: the thread is ending
            if not run.ready.is_set():
                run.error = exc
            else:
                log.error("status page listener ended: %s: %s", type(exc).__name__, exc)
        finally:
            run.ready.set()
            with contextlib.suppress(RuntimeError):  # the bot's loop is closed: nobody waits
                run.home.call_soon_threadsafe(run.ended.set)

    async def _serve(self, run: _Run) -> None:
        run.loop = asyncio.get_running_loop()
        stopping = run.stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/status", self._html)
        app.router.add_get("/status.json", self._json)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = int(runner.addresses[0][1])
            run.ready.set()
            await stopping.wait()
        finally:
            await runner.cleanup()

    async def _html(self, _request: web.Request) -> web.Response:
        return await self.page.html_from(self._snapshot)

    async def _json(self, _request: web.Request) -> web.Response:
        return await self.page.json_from(self._snapshot)

    async def _snapshot(self) -> Cached | None:
        """The bot loop's snapshot: as it is while current (a refresh asked for when due), else waited for
        — one wait shared by every request, and a "none" kept for `KICK_EVERY`."""
        page, run = self.page, self._run
        if run is None or run.home.is_closed():
            return None  # the bot is stopping: a short 503
        cached = page.cached
        now = time.monotonic()
        if cached is not None and cached.generation == page.current.generation:
            if now - self._kicked >= KICK_EVERY and page.due():
                self._kicked = now
                with contextlib.suppress(RuntimeError):  # the bot's loop closed meanwhile
                    run.home.call_soon_threadsafe(page.refresh_if_due)
            return cached
        if now < self._none_until:
            return None
        if self._waiting is None:
            self._waiting = asyncio.ensure_future(self._ask(run))
        return await asyncio.shield(self._waiting)

    async def _ask(self, run: _Run) -> Cached | None:
        """The bot's loop's `current_snapshot()` (None: the page is off there, or it has none)."""
        try:
            ask = self.page.current_snapshot()
            try:
                future = asyncio.run_coroutine_threadsafe(ask, run.home)
            except RuntimeError:  # the bot's loop closed meanwhile
                ask.close()
                return None
            try:
                got = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                if not future.cancelled():
                    raise
                return None  # cancelled there: the bot is stopping
            if got is None:
                self._none_until = time.monotonic() + KICK_EVERY
            return got
        finally:
            self._waiting = None
