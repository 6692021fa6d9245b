"""HTML texts for Telegram, and safe splitting under its 4096-character limit."""
