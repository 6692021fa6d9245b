"""Wiring of a running opsbot: domain core, HTTP server, scheduler, and (with a token) Telegram.

Everything that runs for the life of the process is a duty (`ops.duties`): the outbox sender on every
replica; the poller (or the webhook registration), the scheduler and housekeeping on the leader. Telegram
being down never holds up the rest: the detectors and the engine run, alerts wait in the outbox, and
Telegram's start-up calls are retried with backoff until they succeed."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import BotCommand, ErrorEvent
from aiogram.utils.backoff import BackoffConfig
from aiohttp import web

from bot.access import AccessMiddleware
from bot.handlers import build_router
from bot.limits import RateLimiter, RateLimitMiddleware
from bot.link import UNREACHABLE, TelegramLink
from bot.render.texts import COMMANDS
from bot.sender import Sender
from bot.webhook import add_webhook_route
from ops.api import OpsApi
from ops.bridge import receive
from ops.config.models import OpsConfig
from ops.duties import describe
from ops.engine.catchup import no_alert_chat_warning
from ops.http import build_http_app, start_http
from ops.metrics import Metrics
from ops.reload import apply_chat_lists
from ops.runtime import OpsCore
from ops.scheduler import SchedulerDuty, WatchedScheduler, build_scheduler
from ops.settings import Settings, SettingsError, load_settings
from ops.storage.sends import SendLog
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 15.0  # seconds
SCHEDULER_START_WAIT = 5.0  # seconds a new leader waits for its scheduler before going on
TOKEN_CHECK_TIMEOUT = 5  # seconds the start-up getMe may take before Telegram counts as unreachable
BAD_TOKEN = "bad setting BOT_TOKEN: Telegram refused it (401 Unauthorized) — copy the token from @BotFather again"
LEADER_DUTIES = ("poller", "webhook", "scheduler", "housekeeping")
TELEGRAM_FAILURES = (TelegramAPIError, TimeoutError)  # a duty dying of these is logged without a traceback


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
        self.core.scheduling = self.schedule = schedule
        self.duties = self.core.duties
        self.polling_timeout = polling_timeout
        self.housekeeping_every = HOUSEKEEPING_EVERY
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.sender: Sender | None = None
        self.link: TelegramLink | None = None
        self.limiter = RateLimiter()
        self.fatal: str | None = None  # why the process stopped by itself (exit 2), e.g. a refused BOT_TOKEN
        self._stop: asyncio.Event | None = None
        self._http: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._ready = asyncio.Event()  # set once started: a reload waits for it
        self._reloading = asyncio.Lock()
        self._reloads: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak references)

    @property
    def headless(self) -> bool:
        return not self.settings.bot_token

    @property
    def scheduler(self) -> WatchedScheduler | None:
        """The leader's running scheduler (None on a standby, or while the scheduler duty restarts)."""
        return self.core.schedule.scheduler if self.core.schedule is not None else None

    async def start(self) -> None:
        """Every replica serves HTTP (and the webhook) and drains the outbox; the leader alone polls
        Telegram and runs the scheduler (see `ops.replicas`). On SQLite this process is the leader.

        Mistakes no restart can fix raise `SettingsError` (one line; `opsbot run` exits 2): /alertmanager
        and /ping open to other machines without tokens, a BOT_TOKEN Telegram refuses, a port in use."""
        self._check_ingest()
        if not self.headless:
            self.bot = build_bot(self.settings)
            self.bot.session.middleware(RateLimitMiddleware(self.limiter))
            self.link = TelegramLink()  # innermost: it sees what Telegram (or the network) answered
            self.bot.session.middleware(self.link)
            self.link.on_back.append(self._telegram_back)
            self.core.telegram = self.link.status
            await self._check_token()
        http_app = build_http_app(
            self.core.metrics,
            self.core.probe,
            pings=self.core.pings,
            heartbeats=frozenset(d.name for d in self.core.config.detectors if d.pinged),
            ping_token=self.settings.ping_token,
            alertmanager=lambda payload: receive(self.core.engine, payload),
            alertmanager_token=self.settings.alertmanager_webhook_token,
            api=OpsApi(
                self.core.services, self.core.slo_reader, self.settings.api_token, self.settings.api_public_read
            ),
        )
        if self.bot is not None:
            self.dp = build_dispatcher(self.core)
            self.sender = Sender(self.bot, self.core, self.limiter)
            if self.settings.webhook_mode:
                add_webhook_route(http_app, self.settings.webhook_path, self.settings.webhook_secret, self.dp, self.bot)
        self._http = await self._listen(http_app)
        await self.core.migrate()
        await self._catch_up()
        replica = await self.core.replicas.register()
        self.core.outbox.replica = self.core.remediation.replica = replica
        if self.core.replicas.shared:
            self.limiter.shared = SendLog(self.core.db, replica)
        self.core.replicas.on_elected.append(self._lead)
        self.core.replicas.on_deposed.append(self._stand_down)
        if self.sender is not None:
            self.duties.start("sender", self.sender.run)
        if self.link is not None and not self.link.accepted:
            self.duties.start("telegram", self._confirm_token, once=True, quiet=TELEGRAM_FAILURES)
        await self.core.replicas.start()
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

    # -- start-up checks ---------------------------------------------------------------------
    def _check_ingest(self) -> None:
        missing = self.settings.open_ingest()
        if not missing:
            return
        if not self.settings.allow_unauthenticated_ingest:
            raise SettingsError(
                f"bad setting HTTP_HOST: {self.settings.http_host or '(every address)'} is reachable from other "
                f"machines, and /alertmanager and /ping would take anything from anyone — set "
                f"{' and '.join(missing)} (or ALLOW_UNAUTHENTICATED_INGEST=true if that is meant)"
            )
        log.warning(
            "ALLOW_UNAUTHENTICATED_INGEST=true: /alertmanager and /ping on %s take anything, without %s",
            self.settings.http_host,
            " and ".join(missing),
        )

    async def _check_token(self) -> None:
        """Ask Telegram once, briefly, whether it takes BOT_TOKEN: a 401 stops the start (exit 2); no
        answer does not — the link says unreachable, and the `telegram` duty asks again with backoff."""
        assert self.bot is not None
        try:
            await self.bot.get_me(request_timeout=TOKEN_CHECK_TIMEOUT)
        except TelegramUnauthorizedError:
            raise SettingsError(BAD_TOKEN) from None
        except UNREACHABLE:
            pass  # the link logged it
        except Exception as exc:  # another answer (TELEGRAM_API_URL is not a Bot API?): say so, go on
            log.warning("getMe at start: %s; asking again with backoff", describe(exc))

    async def _confirm_token(self) -> None:
        """Telegram did not answer at start: ask until it does. A 401 then is still a wrong BOT_TOKEN."""
        assert self.bot is not None
        try:
            await self.bot.get_me()
        except TelegramUnauthorizedError:
            if not self._refused():
                raise

    def _refused(self) -> bool:
        """Telegram answered 401. Before it ever took the token, the token is wrong: stop with exit 2
        (returns True). After, it was revoked: the duties retry with backoff; /healthz says `unauthorized`."""
        if self.link is None or self.link.accepted:
            return False
        if self.fatal is None:
            self.fatal = BAD_TOKEN
            if self._stop is not None:
                self._stop.set()
        return True

    async def _listen(self, http_app: web.Application) -> web.AppRunner:
        host, port = self.settings.http_host, self.settings.http_port
        try:
            return await start_http(http_app, host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = f"port {port} on {host} is in use by another process — stop it or choose another HTTP_PORT"
                raise SettingsError(f"bad setting HTTP_PORT: {why}") from None
            reason = exc.strerror or describe(exc)
            raise SettingsError(f"bad setting HTTP_HOST/HTTP_PORT: cannot listen on {host}:{port}: {reason}") from None

    # -- leadership ----------------------------------------------------------------------------
    async def _lead(self) -> None:
        """Elected: take the duties only one replica may have. Nothing here waits on Telegram."""
        self.core.metrics.leader.set(1)
        if self.bot is not None and self.dp is not None:
            if self.settings.webhook_mode:
                self.duties.start("webhook", self._register_webhook, once=True, quiet=TELEGRAM_FAILURES)
            else:
                self.duties.start("poller", self._poll, quiet=TELEGRAM_FAILURES)
        if self.schedule:
            every = self.settings.sweep_interval_sec
            intervals = {d.name: float(d.interval(every)) for d in self.core.config.detectors}
            self.core.schedule = schedule = SchedulerDuty(self._build_scheduler, intervals)
            self.duties.start("scheduler", schedule.run)
            self.duties.every("housekeeping", lambda: self.housekeeping_every, self.core.housekeeping)
            # Usually a moment: then `start` returns with the scheduler running. If it cannot start (the
            # database), its duty keeps trying and /healthz says so; nothing else waits for it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(schedule.started.wait(), SCHEDULER_START_WAIT)

    async def _stand_down(self) -> None:
        """Lost the leader lock (or stopping): stop polling and scheduling at once."""
        self.core.metrics.leader.set(0)
        await self.duties.stop(*LEADER_DUTIES)
        self.core.schedule = None

    async def _build_scheduler(self, ran: Any) -> WatchedScheduler:
        return build_scheduler(
            self.settings,
            self.core.sweeper,
            self.core.engine,
            self.core.outbox,
            self.core.metrics,
            self.core.slo,
            self.core.report,
            housekeeping_every=None,  # a duty of its own
            last_runs=await self.core.engine.last_runs(),
            ran=ran,
        )

    # -- Telegram --------------------------------------------------------------------------------
    async def _telegram(self, call: Any) -> Any:
        """A start-up call: a 401 may mean a wrong BOT_TOKEN (see `_refused`); any failure ends the duty,
        which is started again with backoff."""
        try:
            return await call
        except TelegramUnauthorizedError:
            self._refused()
            raise

    async def _set_commands(self) -> None:
        assert self.bot is not None
        commands = [BotCommand(command=c, description=d) for c, d in COMMANDS]
        try:
            await self._telegram(self.bot.set_my_commands(commands))
        except (*UNREACHABLE, TelegramUnauthorizedError):
            raise
        except TelegramAPIError as exc:  # the command menu is a nicety: never a reason not to poll
            log.warning("setMyCommands: %s", describe(exc))

    async def _register_webhook(self) -> None:
        assert self.bot is not None and self.dp is not None
        await self._telegram(
            self.bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret,
                allowed_updates=self.dp.resolve_used_update_types(),
            )
        )
        await self._set_commands()

    async def _poll(self) -> None:
        """The poller duty: remove any webhook (Telegram refuses getUpdates while one is set), set the
        command menu, learn who we are, then long-poll until cancelled."""
        assert self.dp is not None and self.bot is not None
        await self._telegram(self.bot.delete_webhook(drop_pending_updates=False))
        await self._set_commands()
        await self._telegram(self.bot.me())
        self.duties.healthy("poller")
        polling = asyncio.create_task(
            self.dp.start_polling(
                self.bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=self.polling_timeout,
                backoff_config=BackoffConfig(min_delay=0.5, max_delay=10.0, factor=1.5, jitter=0.1),
            ),
            name="polling",
        )
        try:
            await asyncio.shield(polling)
        except asyncio.CancelledError:
            if not polling.done():  # asked to stop: end the long poll in flight, as aiogram does
                with contextlib.suppress(RuntimeError, TimeoutError):  # RuntimeError: not polling yet
                    await asyncio.wait_for(self.dp.stop_polling(), 10)
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await polling
            raise

    def _telegram_back(self) -> None:
        """Telegram answers again: what waited out a backoff goes now."""
        task = asyncio.create_task(self._deliver_waiting(), name="telegram-back")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_waiting(self) -> None:
        try:
            released = await self.core.outbox.retry_now(self.core.clock())
        except Exception as exc:  # the sender's own backoff delivers them anyway, later
            log.warning("outbox: could not hurry the waiting notifications: %s", describe(exc))
            return
        if released:
            log.info("outbox: %d notification(s) that waited for Telegram go now", released)
        if self.sender is not None:
            self.sender.wake()

    @property
    def http_port(self) -> int:
        """The bound port (HTTP_PORT=0 picks a free one)."""
        if self._http is None or not self._http.addresses:
            return self.settings.http_port
        return int(self._http.addresses[0][1])

    async def stop(self) -> None:
        """Safe after a start that failed half-way."""
        await self.core.replicas.stop()  # stands down first: no poll, no scheduled run from here on
        await self.duties.stop()
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.bot is not None:
            await self.bot.session.close()
        if self._http is not None:
            await self._http.cleanup()
        await self.core.close()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Until `stop` is set — or the app sets it itself, with `fatal` saying why."""
        self._stop = stop
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()
