"""/slo and its 📈 Chart button.

With SLOs configured: objective, actual, budget left, burn rates and status per SLO, over each SLO's
window or the one asked for (`/slo 7d`). Without: checks passing per day (`/slo [days]`).
"""

from __future__ import annotations

import asyncio
import re

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import SloChartCb
from bot.handlers.replies import answer_long, args_of
from bot.render.chart import slo_chart_png
from bot.render.texts import slo_text
from ops.config.current import CurrentConfig
from ops.slo.read import SloReader

DAYS_USAGE = "Usage: /slo [days] — days from 1 to 90, default 7"
WINDOW_USAGE = "Usage: /slo [window] — e.g. /slo 7d or /slo 24h (1h to 90d); default each SLO's own window"
_WINDOW = re.compile(r"^([0-9]{1,3})([hd]?)$")  # ASCII digits only: "²".isdigit() is True
ALREADY_DRAWING = "Already drawing a chart for this chat; it comes in a moment."


def parse_window(arg: str) -> float | None:
    match = _WINDOW.match(arg.lower())
    if not match:
        return None
    seconds = int(match.group(1)) * (3600 if match.group(2) == "h" else 86400)
    return float(seconds) if 3600 <= seconds <= 90 * 86400 else None


async def slo(message: Message, slo_reader: SloReader, current: CurrentConfig) -> None:
    args = args_of(message)
    reader = slo_reader
    if not current.config.slos:
        days = 7
        if args:
            raw = args[0].lower().removesuffix("d")
            if len(args) > 1 or not re.fullmatch("[0-9]{1,2}", raw) or not 1 <= int(raw) <= 90:
                await message.answer(DAYS_USAGE)
                return
            days = int(raw)
        await answer_long(message, slo_text(await reader.read(days=reader.last_days(days))))
        return
    window = parse_window(args[0]) if len(args) == 1 else None
    if len(args) > 1 or (args and window is None):
        await message.answer(WINDOW_USAGE)
        return
    report = await reader.read(window=window)
    chart_window = int(window or max(s.window for s in report.slos))
    button = InlineKeyboardButton(text="📈 Chart", callback_data=SloChartCb(window=chart_window).pack())
    await answer_long(message, slo_text(report), InlineKeyboardMarkup(inline_keyboard=[[button]]))


class ChartDrawer:
    """📈 Chart presses. A chart takes a few hundred ms of matplotlib: it is drawn in a worker thread,
    so the event loop (deliveries, HTTP, other commands) goes on meanwhile; one at a time per chat (a
    press while one is drawn there is told so) and at most `parallel` at a time in all."""

    def __init__(self, parallel: int = 2) -> None:
        self.drawing: set[int] = set()
        self.slots = asyncio.Semaphore(parallel)

    async def __call__(
        self, query: CallbackQuery, callback_data: SloChartCb, reader: SloReader, current: CurrentConfig
    ) -> None:
        if not current.config.slos or not isinstance(query.message, Message):
            await query.answer("No SLOs configured.")
            return
        chat_id = query.message.chat.id
        if chat_id in self.drawing:
            await query.answer(ALREADY_DRAWING)
            return
        days = max(1, min(90, round(callback_data.window / 86400)))
        self.drawing.add(chat_id)
        try:
            await query.answer("Drawing the chart…")
            series = {s.name: (s.objective, await reader.daily(s, days)) for s in current.config.slos}
            async with self.slots:
                png = await asyncio.to_thread(slo_chart_png, series, days)
            await query.message.answer_photo(
                BufferedInputFile(png, filename="slo.png"), caption=f"SLI and error budget left, last {days} days"
            )
        finally:
            self.drawing.discard(chat_id)


def build_router() -> Router:
    router = Router(name="slo")
    router.message.register(slo, Command("slo"))
    drawer = ChartDrawer()

    async def slo_chart(
        query: CallbackQuery, callback_data: SloChartCb, slo_reader: SloReader, current: CurrentConfig
    ) -> None:
        await drawer(query, callback_data, slo_reader, current)

    router.callback_query.register(slo_chart, SloChartCb.filter())
    return router
