"""Logging for the `opsbot` commands: one line per record, and no tracebacks for a normal stop."""

from __future__ import annotations

import asyncio
import logging


class _StopIsNotAnError(logging.Filter):
    """APScheduler logs a job cancelled by a stop (a detector mid-query at Ctrl-C) as "raised an
    exception" with a traceback; a stop is not an error, so that record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.name.startswith("apscheduler") and isinstance(exc, asyncio.CancelledError))


def configure_logging(*, quiet: bool = False) -> None:
    """INFO to stderr; `quiet` (the demo and the emulator, whose output is a transcript) shows only problems."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    if quiet:
        root.setLevel(logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(f, _StopIsNotAnError) for f in handler.filters):
            handler.addFilter(_StopIsNotAnError())
    for noisy in ("alembic", "apscheduler", "aiogram.event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if quiet:  # the demo's time-lapse runs detectors every 3 s: on a busy machine a run is skipped, not news
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
