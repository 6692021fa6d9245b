"""Cron schedules for heartbeats, on APScheduler's CronTrigger (5 fields, with a timezone)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger


def parse_cron(expression: str, tz: str = "UTC") -> CronTrigger:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}") from None
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise ValueError(f"bad cron schedule {expression!r}: {exc}") from None


def next_run_after(trigger: CronTrigger, after_utc: datetime) -> datetime | None:
    """The first scheduled time strictly after `after_utc` (naive UTC in, naive UTC out)."""
    aware = after_utc.replace(tzinfo=UTC)
    nxt = trigger.get_next_fire_time(None, aware)
    if nxt is not None and nxt <= aware:
        from datetime import timedelta

        nxt = trigger.get_next_fire_time(None, aware + timedelta(seconds=1))
    return nxt.astimezone(UTC).replace(tzinfo=None) if nxt is not None else None
