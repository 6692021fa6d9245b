"""The console: a Telegram Mini App (and a browser page after a one-time login link) at /app."""
