"""/health and /detectors: read-only views of the history tables, each at most two messages."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.access import Access
from bot.console.links import console_button, with_button
from bot.handlers.replies import answer_parts
from bot.render.texts import detectors_parts, health_parts
from ops.config.current import CurrentConfig
from ops.health import HealthReadModel
from ops.settings import Settings


async def health(message: Message, health: HealthReadModel, access: Access, settings: Settings) -> None:
    """A chat sees the incidents that were sent to it (admin chats and admins' private chats: all)."""
    summary = await health.health_summary(chat_id=None if access.sees_all else access.chat_id)
    console = with_button(None, await console_button(message.bot, settings, access))
    await answer_parts(message, health_parts(summary), console)


async def detectors(message: Message, current: CurrentConfig, settings: Settings) -> None:
    await answer_parts(message, detectors_parts(list(current.config.detectors), settings.sweep_interval_sec))


def build_router() -> Router:
    router = Router(name="health")
    router.message.register(health, Command("health"))
    router.message.register(detectors, Command("detectors"))
    return router
