"""Delivering the outbox to Telegram, in parts: what a row becomes (`messages`), how Telegram's answer
is read (`transport`), when rows go together as a storm digest (`grouper`), and how long a failed row
waits (`backoff`). `bot.sender` drives them."""
