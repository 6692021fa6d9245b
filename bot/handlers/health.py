"""/health and /detectors: read-only views of the history tables."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.handlers.replies import answer_long
from bot.render.texts import detectors_text, health_text
from ops.services import OpsServices


async def health(message: Message, services: OpsServices) -> None:
    await answer_long(message, health_text(await services.health()))


async def detectors(message: Message, services: OpsServices) -> None:
    await answer_long(message, detectors_text(services.detectors(), services.settings.sweep_interval_sec))


def build_router() -> Router:
    router = Router(name="health")
    router.message.register(health, Command("health"))
    router.message.register(detectors, Command("detectors"))
    return router
