"""`/status` and `/status.json` on opsbot's HTTP server: public, read-only, off (404) unless the config has a
`status_page` section (read on every request, so a reload turns it on or off).

Both answer from a cached snapshot, so a crowd of readers costs the database nothing:
- the snapshot is read again at most every `REFRESH_EVERY` seconds, by one refresh at a time; a request
  that finds it older starts that refresh in the background and is answered from the snapshot it has (only
  the very first request, and the first after a reload changed the config, waits for the database);
- a refresh that fails keeps the last snapshot, shown with its age; the failure is logged in one line and
  tried again after `REFRESH_EVERY`, never on every request; with no snapshot at all the answer is a short
  503, never a traceback.
The page itself is rendered once per snapshot: a request only fills in its age.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.current import CurrentConfig
from ops.config.models import StatusPageConfig
from ops.status_page.render import Rendered, age_text, render
from ops.status_page.snapshot import Snapshot, read_snapshot
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

REFRESH_EVERY = 15.0  # seconds
HEADERS = {
    "Cache-Control": "public, max-age=15",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# No script, no external resource: inline style and nothing else.
HTML_HEADERS = {
    **HEADERS,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
}
OFF = "no status page: add a status_page section to the config to publish one\n"
UNAVAILABLE = "Status is temporarily unavailable; try again in a minute.\n"


@dataclass(frozen=True)
class Cached:
    snapshot: Snapshot
    page: Rendered
    body: bytes  # /status.json
    generation: int  # the config generation it was read under


class StatusPage:
    def __init__(self, db: AsyncEngine, current: CurrentConfig, clock: Clock = utcnow) -> None:
        self.db = db
        self.current = current
        self.clock = clock
        self.refresh_every = REFRESH_EVERY
        self.cached: Cached | None = None
        self.refreshes = 0  # snapshots read (tests and the benchmark count them)
        self.failed_at: datetime | None = None  # the last refresh that failed, until one succeeds
        self._attempted: tuple[datetime, int] | None = None  # the last refresh started: when, which config
        self._refreshing: asyncio.Task[None] | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/status", self.html)
        app.router.add_get("/status.json", self.json)
        app.on_cleanup.append(self._stop)

    async def _stop(self, _app: web.Application) -> None:
        """The server is going away: a refresh in flight is cancelled, not left pending."""
        task = self._refreshing
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def config(self) -> StatusPageConfig | None:
        return self.current.config.status_page

    async def current_snapshot(self) -> Cached | None:
        """The snapshot to answer with (None: the page is off, or no snapshot could be read yet)."""
        if self.config is None:
            self.cached = None
            return None
        generation = self.current.generation
        cached = self.cached
        if cached is not None and cached.generation == generation:
            if self.due():
                self._start()  # in the background: this request is answered from what we have
            return cached
        # None yet, or read under another config: wait for the shared refresh (one per 15 s while failing).
        for _ in range(2):  # the one in flight may have started under the old config
            if self._refreshing is None and not self.due():
                break
            await asyncio.shield(self._start())
            cached = self.cached
            if cached is not None and cached.generation == generation:
                return cached
        return None

    def due(self) -> bool:
        if self._refreshing is not None:
            return False
        if self._attempted is None or self._attempted[1] != self.current.generation:
            return True
        return (self.clock() - self._attempted[0]).total_seconds() >= self.refresh_every

    def refresh_if_due(self) -> None:
        """On this (the bot's) loop: start a refresh if one is due (the own listener's requests ask so)."""
        if self.due():
            self._start()

    def _start(self) -> asyncio.Task[None]:
        """The refresh in flight, started if there is none: every caller shares it."""
        if self._refreshing is None:
            self._attempted = (self.clock(), self.current.generation)
            self._refreshing = asyncio.create_task(self._refresh())
            self._refreshing.add_done_callback(self._done)
        return self._refreshing

    def _done(self, _task: asyncio.Task[None]) -> None:
        self._refreshing = None

    async def _refresh(self) -> None:
        page, generation = self.config, self.current.generation
        if page is None:
            return
        try:
            snapshot = await read_snapshot(self.db, page, self.clock())
            body = json.dumps(snapshot.as_dict(), ensure_ascii=False, separators=(",", ":")).encode()
            rendered = render(snapshot)
        except Exception as exc:  # the database is down or slow (or a bug): keep serving what we have
            if self.failed_at is None:
                first = (str(exc).splitlines() or [""])[0][:200]
                log.warning("status page: refresh failed, serving the last snapshot: %s: %s", type(exc).__name__, first)
            self.failed_at = self.clock()
            return
        if self.failed_at is not None:
            log.info("status page: refreshed again after a failure")
        self.failed_at = None
        self.cached = Cached(snapshot, rendered, body, generation)
        self.refreshes += 1

    def age(self, cached: Cached) -> float:
        return max(0.0, (self.clock() - cached.snapshot.generated_at).total_seconds())

    async def html(self, _request: web.Request) -> web.Response:
        return await self.html_from(self.current_snapshot)

    async def json(self, _request: web.Request) -> web.Response:
        return await self.json_from(self.current_snapshot)

    async def html_from(self, get: Callable[[], Awaitable[Cached | None]]) -> web.Response:
        """The page, from the snapshot `get` gives (this loop's, or — on STATUS_PORT — the bot's loop's)."""
        if self.config is None:
            return web.Response(status=404, text=OFF, headers=HEADERS)
        cached = await get()
        if cached is None:
            return web.Response(status=503, text=UNAVAILABLE, headers={**HEADERS, "Retry-After": "30"})
        body = cached.page.page(age_text(self.age(cached)))
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=HTML_HEADERS)

    async def json_from(self, get: Callable[[], Awaitable[Cached | None]]) -> web.Response:
        if self.config is None:
            return web.json_response({"error": OFF.strip()}, status=404, headers=HEADERS)
        cached = await get()
        if cached is None:
            return web.json_response(
                {"error": UNAVAILABLE.strip()}, status=503, headers={**HEADERS, "Retry-After": "30"}
            )
        # The snapshot's JSON is made once; the age is the one thing added per request.
        age = json.dumps({"age_seconds": round(self.age(cached), 1)}, separators=(",", ":"))[:-1].encode()
        return web.Response(body=age + b"," + cached.body[1:], content_type="application/json", headers=HEADERS)
