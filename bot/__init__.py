"""Everything Telegram: handlers, keyboards, rendering, delivery, the Bot API emulator, the CLI."""
