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
    """A local wall time as UTC. A time repeated by a fall-back takes its first occurrence; a time skipped
    by a spring-forward (02:30 on the night 02:00 jumps to 03:00) is the instant the clock jumps past it,
    so a shift starts as soon as its handoff time has passed on the wall clock."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first.replace(tzinfo=None)
    # In the gap: `first` (the old offset) lies after the jump, `early` (the new offset) before it.
    early = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = early, first
    while high - low > timedelta(seconds=1):  # the jump: the first instant whose wall time is past `local`
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= local:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0).replace(tzinfo=None)


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
