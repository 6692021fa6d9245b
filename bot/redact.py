"""The bot token never reaches a log line, a stored error or a chat."""

from __future__ import annotations

import logging

from ops.redaction import redact as _redact


def redact(text: str, token: str = "") -> str:
    return _redact(text, [token])


class RedactingFilter(logging.Filter):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.token)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.token)
            record.exc_info = None
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def install(token: str) -> None:
    """Attach the filter to every handler of the root logger (call after logging is configured)."""
    flt = RedactingFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
