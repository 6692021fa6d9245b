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
from collections.abc import Callable, Coroutine
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
from bot.console.links import is_member
from bot.console.server import Console
from bot.console.viewers import Viewers
from bot.handlers import build_router
from bot.limits import RateLimiter, RateLimitMiddleware
from bot.link import UNREACHABLE, TelegramLink
from bot.render.texts import COMMANDS
from bot.sender import Sender
from bot.topics.board import TICK as BOARD_TICK
from bot.topics.board import Boards
from bot.topics.forums import REFRESH_EVERY as FORUMS_EVERY
from bot.topics.forums import Forums
from bot.webhook import add_webhook_route
from ops.api import ApiServices, OpsApi
from ops.bridge import receive
from ops.config.models import OpsConfig
from ops.config_file import ConfigRejected
from ops.duties import Duties, describe
from ops.engine.catchup import no_alert_chat_warning
from ops.http import build_http_app, start_http
from ops.metrics import Metrics
from ops.probe import Probe
from ops.reload import ReloadOutcome, apply_chat_lists
from ops.runtime import OpsCore
from ops.scheduler import SchedulerDuty, WatchedScheduler, build_scheduler, replan
from ops.settings import Settings, SettingsError, host_port, load_settings
from ops.status_page import StatusPage
from ops.status_page.listener import OwnListener
from ops.storage.config_reloads import Generation
from ops.storage.sends import SendLog
from ops.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 15.0  # seconds
SCHEDULER_START_WAIT = 5.0  # seconds a new leader waits for its scheduler before going on
TOKEN_CHECK_TIMEOUT = 5  # seconds the start-up getMe may take before Telegram counts as unreachable
BAD_TOKEN = "bad setting BOT_TOKEN: Telegram refused it (401 Unauthorized) — copy the token from @BotFather again"
LEADER_DUTIES = ("poller", "webhook", "scheduler", "housekeeping", "board")
TELEGRAM_FAILURES = (TelegramAPIError, TimeoutError)  # a duty dying of these is logged without a traceback


def build_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_dispatcher(core: OpsCore, reload: Any) -> Dispatcher:
    """Handlers get what they need by name (aiogram's workflow data): a parameter `incidents` receives the
    incident service, `history` the alert history, and so on; `access` and `actor` come per update from
    the access middleware; `reload` reloads settings and config (what /reload runs)."""
    dp = Dispatcher(
        settings=core.settings,
        current=core.current,
        clock=core.clock,
        scoping=core.scoping,
        incidents=core.incidents,
        history=core.history,
        incident_log=core.incident_log,
        postmortems=core.postmortems,
        oncall=core.oncall,
        pipeline=core.pipeline,
        handoffs=core.handoffs,
        health=core.health,
        digests=core.digests,
        silences=core.chat_silences,
        remediation=core.remediation,
        remediation_runs=core.remediation_runs,
        sweeper=core.sweeper,
        slo_evaluator=core.slo,
        slo_reader=core.slo_reader,
        reload=reload,
    )
    access = AccessMiddleware(core.scoping)
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
        config_path: str | None = None,
        config_digest: str | None = None,
        settings_source: Callable[[], Settings] = load_settings,
    ) -> None:
        """`config_path`: the file the config came from, which a reload reads again (None: it came from no
        file, and a reload re-reads only the settings); `config_digest`: its hash (see `ops.config_file`);
        `settings_source`: how a reload reads the settings again (the environment and `.env`)."""
        self.settings = settings
        self.settings_source = settings_source
        self.core = OpsCore.build(
            settings,
            config,
            metrics=metrics,
            clock=clock,
            digest=config_digest,
            config_path=config_path,
            on_elected=[self._lead],
            on_deposed=[self._stand_down],
            on_new_config=self._follow_reload,
        )
        self.duties = Duties()
        # The leader's scheduler (None: this process schedules nothing, as in tests that sweep themselves).
        self.schedule = SchedulerDuty(self._build_scheduler, self._intervals) if schedule else None
        self.polling_timeout = polling_timeout
        self.housekeeping_every = HOUSEKEEPING_EVERY
        shared = SendLog(self.core.db, self.core.replica) if self.core.replicas.shared else None
        self.limiter = RateLimiter(shared=shared)
        self.link = TelegramLink(on_back=[self._telegram_back]) if settings.bot_token else None
        self.bot = self._build_bot() if settings.bot_token else None
        self.dp = build_dispatcher(self.core, self.reload) if self.bot is not None else None
        self.console = self._build_console() if self.bot is not None and self.dp is not None else None
        # Which alert chats are forums with incident topics: each replica asks Telegram for itself.
        self.forums = Forums(self.bot, self._alert_chats) if self.bot is not None else None
        self.sender = Sender(self.bot, self.core, self.limiter, self.forums) if self.forums is not None else None
        self.boards = Boards(self.bot, self.core, self.forums) if self.bot is not None and self.forums else None
        self.probe = Probe(self.core, self.duties, self.schedule, self.link.status if self.link else lambda: "headless")
        self.status_page = StatusPage(self.core.db, self.core.current, self.core.clock)  # /status, /status.json
        self.status_listener: OwnListener | None = None  # STATUS_LISTEN
        self.fatal: str | None = None  # why the process stopped by itself (exit 2), e.g. a refused BOT_TOKEN
        self._stop: asyncio.Event | None = None
        self._http: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._ready = asyncio.Event()  # set once started: a reload waits for it
        self._reloading = asyncio.Lock()

    def _build_console(self) -> Console:
        """The console (a Mini App at /app): members are asked of Telegram with this bot."""
        bot, dp = self.bot, self.dp
        assert bot is not None and dp is not None
        viewers = Viewers(self.core.scoping, lambda chat_id, user_id: is_member(bot, chat_id, user_id))
        console = Console(self.core, viewers, self.settings.bot_token, self.settings.public_url)
        dp["console"] = console  # /console makes its login links
        return console

    def _alert_chats(self) -> set[int]:
        """The chats alerts go to (ALERT_CHAT_IDS and the routes'), as the running settings and config say."""
        return set(self.settings.alert_chat_ids) | self.core.engine.router.all_chats()

    def _build_bot(self) -> Bot:
        bot = build_bot(self.settings)
        bot.session.middleware(RateLimitMiddleware(self.limiter))
        assert self.link is not None
        bot.session.middleware(self.link)  # innermost: it sees what Telegram (or the network) answered
        return bot

    @property
    def headless(self) -> bool:
        return not self.settings.bot_token

    @property
    def scheduler(self) -> WatchedScheduler | None:
        """The leader's running scheduler (None on a standby, or while the scheduler duty restarts)."""
        return self.schedule.scheduler if self.schedule is not None else None

    def _intervals(self) -> dict[str, float]:
        every = self.settings.sweep_interval_sec
        return {d.name: float(d.interval(every)) for d in self.core.config.detectors}

    async def start(self) -> None:
        """Every replica serves HTTP (and the webhook) and drains the outbox; the leader alone polls
        Telegram and runs the scheduler (see `ops.replicas`). On SQLite this process is the leader.

        Mistakes no restart can fix raise `SettingsError` (one line; `opsbot run` exits 2): /alertmanager
        and /ping open to other machines without tokens, a BOT_TOKEN Telegram refuses, a port in use."""
        self._check_ingest()
        if self.bot is not None:
            await self._check_token()
        http_app = build_http_app(
            self.core.metrics,
            self.probe,
            pings=self.core.pings,
            heartbeats=self.core.current.heartbeats,
            ping_token=self.settings.ping_token,
            alertmanager=lambda payload: receive(self.core.engine, payload),
            alertmanager_token=self.settings.alertmanager_webhook_token,
            api=OpsApi(ApiServices.of(self.core), self.settings.api_token, self.settings.api_public_read),
        )
        if self.console is not None:  # the console: /app and /app/api/*
            self.console.routes(http_app)
        if self.bot is not None and self.dp is not None and self.settings.webhook_mode:
            add_webhook_route(http_app, self.settings.webhook_path, self.settings.webhook_secret, self.dp, self.bot)
        self.status_page.routes(http_app)
        self._http = await self._listen(http_app)
        if self.settings.status_listen:  # the public page on a listener (and a thread) of its own
            listener = self.status_listener = await self._listen_status()
            self.duties.start("status-page", listener.serve, quiet=(OSError,))  # a restart's bind: one line
        await self.core.migrate()
        await self._catch_up()
        replica = await self.core.replicas.register()
        if self.forums is not None:
            self.duties.every("forums", FORUMS_EVERY, self.forums.refresh)
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
        own = self.status_listener
        log.info(
            "opsbot running: replica %s, %d detector(s), HTTP on %s:%s%s, %s, %s",
            replica,
            len(self.core.config.detectors),
            self.settings.http_host,
            self.http_port,
            f", the status page also on {own.host}:{own.port}" if own is not None else "",
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

    async def reload(
        self, fresh: Settings | None = None, *, asked_in: int | None = None, follow: Generation | None = None
    ) -> ReloadOutcome:
        """Re-read the settings (environment and `.env`) and apply their chat lists; re-read the config file
        and take it if it is valid (see `ops.reload`); then catch up. A bad settings value keeps the running
        settings (and the config); a bad config file keeps the running config, and its errors go to the
        admin chats (but `asked_in`, the chat whose /reload is answered with them).

        SIGHUP and /reload call it; a reload taken here is recorded so the other replicas reload too;
        `follow`: this reload follows another replica's. `fresh`: settings already read (tests)."""
        async with self._reloading:
            await self._ready.wait()
            if fresh is None:
                try:
                    fresh = self.settings_source()
                except SettingsError as exc:
                    log.error("reload: %s; the running settings and config stay", exc)
                    return ReloadOutcome(settings_error=str(exc))
            reread = apply_chat_lists(self.settings, fresh)
            log.info(reread.summary())
            try:
                reloaded = await self.core.reloader.reload()
            except ConfigRejected as exc:
                log.error("reload: %s has errors; the running config stays:\n%s", exc.path, exc.text)
                await self.core.reloader.tell_admins(exc, self._replica_name(follow), skip=asked_in)
                await self._catch_up()
                return ReloadOutcome(reread, rejected=exc)
            if reloaded is not None:
                log.info("config reloaded from %s (%s): %s", reloaded.path, reloaded.digest, reloaded.change.summary())
                if reloaded.resolved:
                    log.info("%d open alert(s) of removed detectors resolved", len(reloaded.resolved))
                if follow is None:
                    await self.core.replicas.config_reloaded(reloaded.digest)
                elif follow.digest != reloaded.digest:
                    log.warning(
                        "this replica's config file (%s) differs from the one replica %s reloaded (%s)",
                        reloaded.digest,
                        follow.replica,
                        follow.digest,
                    )
                self._replan()
            await self._catch_up()
            return ReloadOutcome(reread, config=reloaded)

    def _replica_name(self, follow: Generation | None) -> str | None:
        """Named in the admin chats' message when several replicas may each say something."""
        return self.core.replicas.name if self.core.replicas.shared or follow is not None else None

    def _replan(self) -> None:
        """The leader's running scheduler takes the reloaded config's detectors and intervals."""
        scheduler, schedule = self.scheduler, self.schedule
        if scheduler is None or schedule is None or not self.core.replicas.is_leader:
            return
        core = self.core
        done = replan(scheduler, self.settings, core.sweeper, core.slo, core.report, ran=schedule.ran)
        schedule.replanned(done)
        if done.added or done.removed or done.rescheduled or done.slo:
            log.info(
                "scheduler re-planned: %d detector job(s) added, %d removed, %d with a new interval",
                len(done.added),
                len(done.removed),
                len(done.rescheduled),
            )

    def reload_soon(self, follow: Generation | None = None) -> None:
        """From a signal handler (or the replica heartbeat): reload in a task of its own; a failure is one
        log line."""
        self._in_background(self.reload(follow=follow), "reload")

    async def _follow_reload(self, generation: Generation) -> None:
        log.info("replica %s reloaded the config (%s): reloading this replica's", generation.replica, generation.digest)
        self.reload_soon(follow=generation)

    def _in_background(self, work: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._background.discard(task)
            if not task.cancelled() and (exc := task.exception()) is not None:
                log.error("%s failed: %s: %s", name, type(exc).__name__, exc)

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

    async def _listen_status(self) -> OwnListener:
        host, port = host_port(self.settings.status_listen)
        wildcard = {"", "0.0.0.0", "::"}
        http_host = self.settings.http_host
        if port == self.http_port and (host == http_host or host in wildcard or http_host in wildcard):
            why = f"port {port} is HTTP_PORT's, opsbot's own HTTP server (which serves /status too): choose another"
            raise SettingsError(f"bad setting STATUS_LISTEN: {why}")
        listener = OwnListener(self.status_page, host, port)
        try:
            await listener.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = f"port {port} on {host} is in use by another process — stop it or choose another port"
            else:
                why = f"cannot listen on {host}:{port}: {exc.strerror or describe(exc)}"
            raise SettingsError(f"bad setting STATUS_LISTEN: {why}") from None
        return listener

    # -- leadership ----------------------------------------------------------------------------
    async def _lead(self) -> None:
        """Elected: take the duties only one replica may have. Nothing here waits on Telegram."""
        self.core.metrics.leader.set(1)
        if self.bot is not None and self.dp is not None:
            if self.settings.webhook_mode:
                self.duties.start("webhook", self._register_webhook, once=True, quiet=TELEGRAM_FAILURES)
            else:
                self.duties.start("poller", self._poll, quiet=TELEGRAM_FAILURES)
        if self.boards is not None:
            self.duties.every("board", BOARD_TICK, self.boards.tick)
        if (schedule := self.schedule) is not None:
            schedule.lead()
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

    async def _build_scheduler(self, ran: Any, on_failure: Any) -> WatchedScheduler:
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
            on_failure=on_failure,
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
        self._in_background(self._deliver_waiting(), "telegram-back")

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
        if self.status_listener is not None:  # its duty stopped it; after a start that failed half-way, here
            await self.status_listener.stop()
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
