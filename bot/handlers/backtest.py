"""/backtest <detector> [window] (admins): what a detector would have done over the last 30 days (or the
window asked for), replayed through the alert rules (`ops.backtest`): a chart of its series with the band
or threshold and the alert episodes shaded, the summary as its caption, then the episodes.

A replay can take a while (a long range, a heavy detector): it runs as a task of its own, so this
handler answers at once and the event loop goes on; its CPU-heavy parts run in worker threads. One replay
at a time in the whole bot: a second /backtest while one runs is told so."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from bot.access import Access
from bot.handlers.replies import answer_long, args_of
from bot.render.backtest import backtest_caption, backtest_episodes_text
from bot.render.chart import backtest_chart_png
from ops.backtest import BacktestError, check_replayable, run_backtest
from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.engine.incidents import IncidentService
from ops.model import Actor
from ops.settings import Settings
from ops.timeutil import Clock, format_duration

log = logging.getLogger(__name__)
USAGE = "Usage: /backtest <detector> [window] — e.g. /backtest orders 30d (1h to 180d; default 30d)"
BUSY = "A backtest is already running; send /backtest again once it has answered."
DEFAULT_WINDOW = 30 * 86400
_WINDOW = re.compile(r"^([0-9]{1,4})([hdw])$")
_UNIT = {"h": 3600, "d": 86400, "w": 7 * 86400}


def parse_window(arg: str) -> float | None:
    match = _WINDOW.match(arg.lower())
    if not match:
        return None
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    return float(seconds) if 3600 <= seconds <= 180 * 86400 else None


class Backtests:
    """The /backtest command and the one replay it may have under way."""

    def __init__(self) -> None:
        self.running: asyncio.Task[None] | None = None

    async def __call__(
        self,
        message: Message,
        access: Access,
        actor: Actor,
        incidents: IncidentService,
        settings: Settings,
        current: CurrentConfig,
        clock: Clock,
    ) -> None:
        if not access.admin:
            await incidents.record("refused", actor, chat_id=access.chat_id, detail="/backtest: not an admin")
            await message.answer("Only admins can run /backtest.")
            return
        args = args_of(message)
        window = parse_window(args[1]) if len(args) == 2 else float(DEFAULT_WINDOW)
        if not 1 <= len(args) <= 2 or window is None:
            await message.answer(escape(USAGE))
            return
        if self.running is not None and not self.running.done():
            await message.answer(BUSY)
            return
        config = current.config
        end = clock().replace(second=0, microsecond=0)
        start = end - timedelta(seconds=window)
        try:
            detector, _ = check_replayable(settings, config, args[0], start, end)
        except BacktestError as exc:
            await message.answer(f"⚠️ {escape(str(exc))}")
            return
        await message.answer(
            f"🧪 Replaying <b>{escape(detector.name)}</b> over the last {format_duration(window)}… "
            "the chart comes when it is done."
        )
        self.running = asyncio.create_task(self._replay(message, settings, config, detector.name, start, end))

    async def _replay(
        self, message: Message, settings: Settings, config: OpsConfig, name: str, start: datetime, end: datetime
    ) -> None:
        try:
            report = await run_backtest(settings, config, name, start, end)
            png = await asyncio.to_thread(backtest_chart_png, report)
        except BacktestError as exc:
            await message.answer(f"⚠️ {escape(str(exc))}")
            return
        except Exception:
            log.exception("/backtest %s failed", name)
            await message.answer(f"⚠️ The backtest of {escape(name)} failed on our side; it has been logged.")
            return
        await message.answer_photo(BufferedInputFile(png, filename="backtest.png"), caption=backtest_caption(report))
        if report.episodes:
            await answer_long(message, backtest_episodes_text(report))


def build_router() -> Router:
    router = Router(name="backtest")
    backtests = Backtests()

    async def backtest(
        message: Message,
        access: Access,
        actor: Actor,
        incidents: IncidentService,
        settings: Settings,
        current: CurrentConfig,
        clock: Clock,
    ) -> None:
        await backtests(message, access, actor, incidents, settings, current, clock)

    router.message.register(backtest, Command("backtest"))
    return router
