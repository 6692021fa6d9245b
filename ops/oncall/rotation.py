"""Shifts of an on-call schedule, in wall-clock time of its timezone.

Handoffs happen at the configured local time (`mon 09:00`, or `09:00` for rotations shorter than a
week) every `rotation`, counted on the local clock: a weekly handoff stays at 09:00 across a DST change,
and the shift that spans it is an hour shorter or longer. Who holds shift n is `members[n % len]`, with
shift 0 the first handoff on or after 2024-01-01 (a Monday) — fixed, so every replica and every restart
agrees without storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ops.config.schedules import Handoff


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
