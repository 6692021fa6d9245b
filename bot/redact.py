"""No configured secret (the bot token, API and ingest tokens, passwords in URLs) reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ops.redaction import redact as _redact


def redact(text: str, token: str = "") -> str:
    return _redact(text, [token])


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _redact(message, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = _redact(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def install(secrets: Iterable[str]) -> None:
    """Attach the filter to every handler of the root logger (call after logging is configured):
    `secrets` are values blanked wherever they appear (see `ops.redaction.configured_secrets`)."""
    flt = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
