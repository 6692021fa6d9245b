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
from bot.webhook import add_webhook_route
from ops.api import OpsApi
from ops.bridge import receive
from ops.config.models import OpsConfig
from ops.engine.catchup import no_alert_chat_warning
from ops.http import build_http_app, start_http
from ops.metrics import Metrics
from ops.reload import apply_chat_lists
from ops.runtime import OpsCore
from ops.scheduler import build_scheduler
from ops.settings import Settings, SettingsError, load_settings
from ops.storage.sends import SendLog
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
        self._polling: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # set once started: a reload waits for it
        self._reloading = asyncio.Lock()
        self._reloads: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak references)

    @property
    def headless(self) -> bool:
        return not self.settings.bot_token

    async def start(self) -> None:
        """Every replica serves HTTP (and the webhook) and drains the outbox; the leader alone polls
        Telegram and runs the scheduler (see `ops.replicas`). On SQLite this process is the leader."""
        await self.core.migrate()
        await self._catch_up()
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
        replica = await self.core.replicas.register()
        self.core.outbox.replica = self.core.remediation.replica = replica
        if not self.headless:
            self.bot = build_bot(self.settings)
            shared = SendLog(self.core.db, replica) if self.core.replicas.shared else None
            self.limiter.shared = shared
            self.bot.session.middleware(RateLimitMiddleware(self.limiter))
            self.dp = build_dispatcher(self.core)
            self.sender = Sender(self.bot, self.core, self.limiter)
            if self.settings.webhook_mode:
                add_webhook_route(http_app, self.settings.webhook_path, self.settings.webhook_secret, self.dp, self.bot)
        self._http = await start_http(http_app, self.settings.http_host, self.settings.http_port)
        self.core.replicas.on_elected.append(self._lead)
        self.core.replicas.on_deposed.append(self._stand_down)
        await self.core.replicas.start()
        if self.sender is not None:
            self._tasks.append(asyncio.create_task(self.sender.run(), name="sender"))
        # aiogram's pydantic models are hundreds of thousands of long-lived objects: park them outside
        # the collector, so a full collection does not pause a command answer for a few hundred ms.
        gc.collect()
        gc.freeze()
        telegram = "headless (no BOT_TOKEN)" if self.headless else f"Telegram via {self.settings.telegram_api_url}"
        log.info(
            "opsbot running: replica %s, %d detector(s), HTTP on %s:%s, %s, %s",
            replica,
            len(self.core.config.detectors),
            self.settings.http_host,
            self.http_port,
            telegram,
            "leader" if self.core.replicas.is_leader else "standing by",
        )
        self._ready.set()

    async def _catch_up(self) -> None:
        """Warn when alerts reach no chat; send open alerts to the chats configured since they fired."""
        warning = no_alert_chat_warning(self.core.engine.router)
        if warning:
            log.warning(warning)
        report = await self.core.catch_up()
        if report.cards:
            log.info("caught up: %d open alert(s) queued to chats configured since they fired", len(report.incidents))

    async def reload(self, fresh: Settings | None = None) -> None:
        """Re-read the settings (environment and `.env`) and apply their chat lists, then catch up.

        SIGHUP calls it. `fresh`: settings already read (tests); a bad value keeps the running ones."""
        async with self._reloading:
            await self._ready.wait()
            if fresh is None:
                try:
                    fresh = load_settings()
                except SettingsError as exc:
                    log.error("reload: %s; the running settings stay", exc)
                    return
            log.info(apply_chat_lists(self.settings, fresh).summary())
            await self._catch_up()

    def reload_soon(self) -> None:
        """From a signal handler: reload in a task of its own; a failure is one log line."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="reload")
        self._reloads.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._reloads.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:
                log.error("reload failed: %s: %s", type(exc).__name__, exc)

        task.add_done_callback(done)

    async def _lead(self) -> None:
        """Elected: take the duties only one replica may have."""
        self.core.metrics.leader.set(1)
        if self.bot is not None and self.dp is not None:
            if self.settings.webhook_mode:
                await self.bot.set_webhook(
                    self.settings.webhook_url,
                    secret_token=self.settings.webhook_secret,
                    allowed_updates=self.dp.resolve_used_update_types(),
                )
            else:  # Telegram refuses getUpdates while a webhook is set
                await self.bot.delete_webhook(drop_pending_updates=False)
                self._polling = asyncio.create_task(self._poll(), name="polling")
            await self.bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS])
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
                last_runs=await self.core.engine.last_runs(),
            )
            self.scheduler.start()

    async def _stand_down(self) -> None:
        """Lost the leader lock (or stopping): stop polling and scheduling at once."""
        self.core.metrics.leader.set(0)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        polling, self._polling = self._polling, None
        if polling is not None and self.dp is not None:
            with contextlib.suppress(RuntimeError):  # not polling (yet): nothing to stop
                await self.dp.stop_polling()
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await polling

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
        await self.core.replicas.stop()  # stands down first: no poll, no scheduled run from here on
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
