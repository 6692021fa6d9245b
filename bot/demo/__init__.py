"""`opsbot demo`: a marketplace workspace, the emulator, the real bot, and a short story."""

from bot.demo.story import run_demo

__all__ = ["run_demo"]
