"""Wiring of a running opsbot: domain core, HTTP server, scheduler, and (with a token) Telegram."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, ErrorEvent
from aiogram.utils.backoff import BackoffConfig
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.access import AccessMiddleware
from bot.handlers import build_router
from bot.limits import RateLimiter, RateLimitMiddleware
from bot.render.texts import COMMANDS
from bot.sender import Sender
from ops.api import OpsApi
from ops.bridge import receive
from ops.config.models import OpsConfig
from ops.http import build_http_app, start_http
from ops.metrics import Metrics
from ops.runtime import OpsCore
from ops.scheduler import build_scheduler
from ops.settings import Settings
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_dispatcher(core: OpsCore) -> Dispatcher:
    dp = Dispatcher(services=core.services)
    access = AccessMiddleware(core.services)
    dp.message.outer_middleware(access)
    dp.callback_query.outer_middleware(access)
    dp.include_router(build_router())

    @dp.errors()
    async def on_error(event: ErrorEvent) -> bool:
        log.error("handler failed: %s: %s", type(event.exception).__name__, event.exception)
        update = event.update
        with contextlib.suppress(Exception):
            if update.message is not None:
                await update.message.answer("Something went wrong on our side; it has been logged.")
            elif update.callback_query is not None:
                await update.callback_query.answer("Something went wrong on our side.", show_alert=True)
        return True

    return dp


class OpsBotApp:
    """One process: `start()` brings everything up, `stop()` takes it down in reverse."""

    def __init__(
        self,
        settings: Settings,
        config: OpsConfig,
        *,
        clock: Clock = utcnow,
        metrics: Metrics | None = None,
        schedule: bool = True,
        polling_timeout: int = 10,
    ) -> None:
        self.settings = settings
        self.core = OpsCore.build(settings, config, metrics=metrics, clock=clock)
        self.schedule = schedule
        self.polling_timeout = polling_timeout
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.sender: Sender | None = None
        self.limiter = RateLimiter()
        self.scheduler: AsyncIOScheduler | None = None
        self._http: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def headless(self) -> bool:
        return not self.settings.bot_token

    async def start(self) -> None:
        await self.core.migrate()
        await self.core.remediation.reset_interrupted()
        http_app = build_http_app(
            self.core.metrics,
            self.core.probe,
            pings=self.core.pings,
            heartbeats=frozenset(d.name for d in self.core.config.detectors if d.kind == "heartbeat"),
            ping_token=self.settings.ping_token,
            alertmanager=lambda payload: receive(self.core.engine, payload),
            alertmanager_token=self.settings.alertmanager_webhook_token,
            api=OpsApi(self.core.services, self.settings.api_token, self.settings.api_public_read),
        )
        self._http = await start_http(http_app, self.settings.http_host, self.settings.http_port)
        if not self.headless:
            self.bot = build_bot(self.settings)
            self.bot.session.middleware(RateLimitMiddleware(self.limiter))
            self.dp = build_dispatcher(self.core)
            self.sender = Sender(self.bot, self.core, self.limiter)
            await self.sender.start()
            await self.bot.delete_webhook(drop_pending_updates=False)
            await self.bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS])
            self._tasks.append(asyncio.create_task(self.sender.run(), name="sender"))
            self._tasks.append(asyncio.create_task(self._poll(), name="polling"))
        if self.schedule:
            self.scheduler = build_scheduler(
                self.settings,
                self.core.sweeper,
                self.core.engine,
                self.core.outbox,
                self.core.metrics,
                self.core.slo,
                self.core.report,
                self.core.housekeeping,
            )
            self.scheduler.start()
        # aiogram's pydantic models are hundreds of thousands of long-lived objects: park them outside
        # the collector, so a full collection does not pause a command answer for a few hundred ms.
        gc.collect()
        gc.freeze()
        telegram = "headless (no BOT_TOKEN)" if self.headless else f"Telegram via {self.settings.telegram_api_url}"
        log.info(
            "opsbot running: %d detector(s), HTTP on %s:%s, %s",
            len(self.core.config.detectors),
            self.settings.http_host,
            self.http_port,
            telegram,
        )

    @property
    def http_port(self) -> int:
        """The bound port (HTTP_PORT=0 picks a free one)."""
        if self._http is None or not self._http.addresses:
            return self.settings.http_port
        return int(self._http.addresses[0][1])

    async def _poll(self) -> None:
        assert self.dp is not None and self.bot is not None
        await self.dp.start_polling(
            self.bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=self.polling_timeout,
            backoff_config=BackoffConfig(min_delay=0.5, max_delay=10.0, factor=1.5, jitter=0.1),
        )

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.dp is not None:
            with contextlib.suppress(RuntimeError):  # not polling (yet): nothing to stop
                await self.dp.stop_polling()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.bot is not None:
            await self.bot.session.close()
        if self._http is not None:
            await self._http.cleanup()
        await self.core.close()

    async def run_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
