"""A local Telegram Bot API server: the project's own test double for Telegram (tests and demo)."""

from bot.emulator.server import BotApiEmulator, ChatMessage, Fault

__all__ = ["BotApiEmulator", "ChatMessage", "Fault"]
