"""/health, /slo, /detectors: read-only views of the history tables."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.handlers.replies import answer_long, args_of
from bot.render.texts import detectors_text, health_text, slo_text
from ops.services import OpsServices

SLO_USAGE = "Usage: /slo [days] — days from 1 to 90, default 7"


async def health(message: Message, services: OpsServices) -> None:
    await answer_long(message, health_text(await services.health()))


async def slo(message: Message, services: OpsServices) -> None:
    args = args_of(message)
    days = 7
    if args:
        raw = args[0].lower().removesuffix("d")
        if len(args) > 1 or not raw.isdigit() or not 1 <= int(raw) <= 90:
            await message.answer(SLO_USAGE)
            return
        days = int(raw)
    await answer_long(message, slo_text(await services.slo(days)))


async def detectors(message: Message, services: OpsServices) -> None:
    await answer_long(message, detectors_text(services.detectors(), services.settings.sweep_interval_sec))


def build_router() -> Router:
    router = Router(name="health")
    router.message.register(health, Command("health"))
    router.message.register(slo, Command("slo"))
    router.message.register(detectors, Command("detectors"))
    return router
