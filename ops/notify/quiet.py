"""Quiet hours: whether a notification to a chat goes without a sound (`silent`), waits for a morning
digest (`hold`), or goes as usual; and when a quiet period ends. Pure: the caller passes the rules
(`quiet_hours:` of the config), the chat, the alert's severity and the instant (naive UTC).

How a rule's time reads (wall-clock time in its `tz`):

- `when: "22:00-08:00"`: every day from 22:00 to 08:00 the next morning (a span that ends before it
  starts crosses midnight; equal ends are a whole 24 hours).
- `days: [sat, sun]` alone: those whole days, midnight to midnight.
- `when` and `days`: the span on those days only. A span that crosses midnight belongs to the day it
  *starts*: `22:00-08:00` on `[fri]` is Friday 22:00 to Saturday 08:00, not Thursday night's tail.

Spans are wall-clock: the night of a DST change is an hour shorter or longer. A start or end that falls
into the hour skipped in spring is the moment the clocks jump; one that occurs twice in autumn is its
first occurrence. Periods that touch (a weeknight span running into a weekend rule) are one quiet
period: it ends when none of the chat's rules of that mode applies any more.

Who is never quiet: pages (an escalated card, an escalation notice), anything to a private chat (a
personal page), and notifications about no alert (they have no severity). `info` is silent everywhere
unless a rule holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from ops.model import Severity
from ops.notify.types import Notification

Mode = Literal["silent", "hold"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = timedelta(days=1)
_CHAIN = 16  # touching periods followed at most (seven whole days, each split in two, and then some)


class QuietRule(Protocol):
    """One item of `quiet_hours:` (`ops.config.models.QuietHours`)."""

    @property
    def chats(self) -> Sequence[int]: ...
    @property
    def when(self) -> str | None: ...
    @property
    def days(self) -> Sequence[str]: ...
    @property
    def tz(self) -> str: ...
    @property
    def below(self) -> Severity: ...
    @property
    def mode(self) -> str: ...


@dataclass(frozen=True)
class Quiet:
    """How a notification goes now: `silent` (no sound) or `hold` (kept until `until`). `until`: when
    this quiet period ends (naive UTC); None for `info`, silent at any hour."""

    mode: Mode
    until: datetime | None


def never_quiet(notification: Notification, chat_id: int) -> bool:
    """Pages always ring: an escalated card or escalation notice, and anything to a private chat (where
    the personal pages of an escalation policy go)."""
    return chat_id > 0 or notification.pages


def quiet(rules: Iterable[QuietRule], chat_id: int, severity: Severity, now: datetime) -> Quiet | None:
    """How a notification of `severity` to `chat_id` goes at `now` (naive UTC): None means loud.
    A `hold` rule wins over a `silent` one."""
    mine = [r for r in rules if chat_id in r.chats and severity < r.below]
    for mode in ("hold", "silent"):
        ruled = [r for r in mine if r.mode == mode]
        end = period_end(ruled, now)
        if end is not None:
            return Quiet(mode, end)
    return Quiet("silent", None) if severity is Severity.info else None


def period_end(rules: Sequence[QuietRule], now: datetime) -> datetime | None:
    """When the quiet period `now` is in ends (naive UTC), following periods of `rules` that touch;
    None when no rule is quiet at `now`."""
    end = None
    at = now
    for _ in range(_CHAIN):
        ends = [e for e in (rule_end(r, at) for r in rules) if e is not None]
        if not ends:
            break
        end = at = max(ends)
    return end


def rule_end(rule: QuietRule, now: datetime) -> datetime | None:
    """The end (naive UTC) of the rule's span that `now` is in, or None when `now` is not in one."""
    zone = _zone(rule.tz)
    start_at, length = _span(rule.when)
    today = _wall(now, zone).date()
    for back in (2, 1, 0):  # the spans that may hold `now` start at most two local days before it
        day = today - timedelta(days=back)
        if rule.days and WEEKDAYS[day.weekday()] not in rule.days:
            continue
        start = datetime.combine(day, start_at)
        begins, ends = instant(start, zone), instant(start + length, zone)
        if begins <= now < ends:
            return ends
    return None


def instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (naive UTC) at which the clocks in `zone` show `wall` or later: its only one
    normally, the first of two in the repeated autumn hour, the jump itself in the skipped spring hour."""
    first = _utc(wall.replace(tzinfo=zone, fold=0))
    if _wall(first, zone) == wall:
        return first
    # Skipped: one reading lands before the jump, the other after. Find the jump (to the second).
    lo, hi = sorted((first, _utc(wall.replace(tzinfo=zone, fold=1))))
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _wall(mid, zone) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _span(when: str | None) -> tuple[time, timedelta]:
    """A rule's daily start and length: `when`, or the whole day for `days` alone."""
    if when is None:
        return time(0, 0), _DAY
    start, end = (part.strip() for part in when.split("-"))
    begins = _hhmm(start)
    length = (datetime.combine(date.min, _hhmm(end)) - datetime.combine(date.min, begins)) % _DAY
    return begins, length or _DAY


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _wall(at: datetime, zone: ZoneInfo) -> datetime:
    """The local wall-clock time of a naive UTC instant."""
    return at.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _utc(aware: datetime) -> datetime:
    return aware.astimezone(UTC).replace(tzinfo=None)
