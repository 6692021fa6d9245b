"""Shifts of an on-call schedule, in wall-clock time of its timezone.

Handoffs happen at the configured local time (`mon 09:00`, or `09:00` for rotations shorter than a
week) every `rotation`, counted on the local clock: a weekly handoff stays at 09:00 across a DST change,
and the shift that spans it is an hour shorter or longer. Who holds shift n is `members[n % len]`, with
shift 0 the first handoff on or after 2024-01-01 (a Monday) — fixed, so every replica and every restart
agrees without storing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HANDOFF = re.compile(r"^\s*(?:(mon|tue|wed|thu|fri|sat|sun)\s+)?(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
_EPOCH = datetime(2024, 1, 1)  # a Monday, local wall clock


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


@dataclass(frozen=True)
class Shift:
    index: int
    member: int
    start: datetime  # naive UTC
    end: datetime  # naive UTC


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A local wall time as UTC; a time skipped by DST moves forward, a repeated one takes its first."""
    aware = local.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != local:  # in the gap of a spring-forward: the instant the clock jumps past it
        aware = local.replace(tzinfo=zone, fold=1)
    return aware.astimezone(UTC).replace(tzinfo=None)


def shift_at(members: list[int], rotation: float, handoff: Handoff, tz: str, now: datetime, offset: int = 0) -> Shift:
    """The shift holding `now` (naive UTC), or with `offset` the one that many after it."""
    zone = ZoneInfo(tz)
    local = now.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    step = timedelta(seconds=rotation)
    anchor = handoff.anchor()
    index = (local - anchor) // step
    if _to_utc(anchor + (index + 1) * step, zone) <= now:  # local times repeat in a fall-back hour
        index += 1
    index += offset
    return Shift(
        index=index,
        member=members[index % len(members)],
        start=_to_utc(anchor + index * step, zone),
        end=_to_utc(anchor + (index + 1) * step, zone),
    )
