"""Schedules as the config file writes them: cron lines (5 fields, with a timezone) and the weekly report's
"mon 09:00", both on APScheduler's CronTrigger. Heartbeats, maintenance windows and the SLO report use them;
an on-call handoff (`Handoff`) is a weekday and a time, or a time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

_REPORT_TIME = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)\s+([01]?\d|2[0-3]):([0-5]\d)\s*$", re.IGNORECASE)


def parse_cron(expression: str, tz: str = "UTC") -> CronTrigger:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}") from None
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise ValueError(f"bad cron schedule {expression!r}: {exc}") from None


def parse_report_time(value: str, tz: str) -> CronTrigger:
    """`mon 09:00`: a weekday and a time, every week."""
    match = _REPORT_TIME.match(value)
    if not match:
        raise ValueError(f'expected a weekday and a time like "mon 09:00", got {value!r}')
    day, hour, minute = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    return parse_cron(f"{minute} {hour} * * {day}", tz)


def next_run_after(trigger: CronTrigger, after_utc: datetime) -> datetime | None:
    """The first scheduled time strictly after `after_utc` (naive UTC in, naive UTC out)."""
    aware = after_utc.replace(tzinfo=UTC)
    nxt = trigger.get_next_fire_time(None, aware)
    if nxt is not None and nxt <= aware:
        nxt = trigger.get_next_fire_time(None, aware + timedelta(seconds=1))
    return nxt.astimezone(UTC).replace(tzinfo=None) if nxt is not None else None


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HANDOFF = re.compile(r"^\s*(?:(mon|tue|wed|thu|fri|sat|sun)\s+)?(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
_EPOCH = datetime(2024, 1, 1)  # a Monday, local wall clock: an on-call rotation's shift 0


@dataclass(frozen=True)
class Handoff:
    weekday: int | None  # 0 = Monday; None: any day
    at: time

    @classmethod
    def parse(cls, value: str) -> Handoff:
        match = _HANDOFF.match(value)
        if not match or int(match.group(2)) > 23 or int(match.group(3)) > 59:
            raise ValueError(f'expected a time like "09:00" or a weekday and a time like "mon 09:00", got {value!r}')
        day = match.group(1)
        return cls(_DAYS.index(day.lower()) if day else None, time(int(match.group(2)), int(match.group(3))))

    def anchor(self) -> datetime:
        """Shift 0's start, local wall clock."""
        start = datetime.combine(_EPOCH.date(), self.at)
        if self.weekday is not None:
            start += timedelta(days=(self.weekday - start.weekday()) % 7)
        return start
