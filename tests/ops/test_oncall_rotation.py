"""Shifts of a rotation on the wall clock of its timezone: handoffs stay at their local time across DST."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ops.config.schedules import Handoff
from ops.oncall.rotation import shift_at

pytestmark = pytest.mark.no_ops_db

WEEK, DAY = 7 * 86400.0, 86400.0
TEAM = [42, 7, 1001]


def shift(
    now: datetime, rotation: float = WEEK, handoff: str = "mon 09:00", tz: str = "Europe/Berlin", offset: int = 0
):
    return shift_at(TEAM, rotation, Handoff.parse(handoff), tz, now, offset)


def test_weekly_handoff_is_at_09_00_berlin_before_and_after_the_spring_dst_change() -> None:
    # Monday 2026-03-23 09:00 CET is 08:00 UTC; Monday 2026-03-30 09:00 CEST is 07:00 UTC.
    before, at = shift(datetime(2026, 3, 23, 7, 59, 59)), shift(datetime(2026, 3, 23, 8, 0))
    assert before.member != at.member and at.start == datetime(2026, 3, 23, 8, 0)
    assert at.end == datetime(2026, 3, 30, 7, 0)  # the shift spanning the change is an hour shorter
    assert shift(datetime(2026, 3, 30, 6, 59, 59)).member == at.member
    after = shift(datetime(2026, 3, 30, 7, 0))
    assert after.start == datetime(2026, 3, 30, 7, 0) and after.end == datetime(2026, 4, 6, 7, 0)
    assert [before.member, at.member, after.member] in ([42, 7, 1001], [7, 1001, 42], [1001, 42, 7])


def test_members_take_turns_in_order_and_the_next_shift_follows() -> None:
    now = datetime(2026, 5, 6, 12, 0)
    members = [shift(now, offset=k).member for k in range(4)]
    assert members[3] == members[0] and sorted(members[:3]) == sorted(TEAM)
    assert shift(now, offset=1).start == shift(now).end


def test_weekly_handoff_in_the_autumn_makes_a_shift_an_hour_longer() -> None:
    # 2026-10-25 Berlin falls back: Monday 19th 09:00 CEST = 07:00 UTC, Monday 26th 09:00 CET = 08:00 UTC.
    s = shift(datetime(2026, 10, 20, 0, 0))
    assert (s.start, s.end) == (datetime(2026, 10, 19, 7, 0), datetime(2026, 10, 26, 8, 0))


def test_daily_handoff_in_new_york() -> None:
    s = shift(datetime(2026, 7, 1, 14, 0), DAY, "09:00", "America/New_York")  # 10:00 EDT
    assert (s.start, s.end) == (datetime(2026, 7, 1, 13, 0), datetime(2026, 7, 2, 13, 0))
    assert shift(datetime(2026, 7, 2, 13, 0), DAY, "09:00", "America/New_York").member != s.member


def test_twelve_hour_shifts_hand_off_twice_a_day() -> None:
    s = shift(datetime(2026, 7, 1, 12, 0), 12 * 3600, "08:00", "UTC")
    assert (s.start, s.end) == (datetime(2026, 7, 1, 8, 0), datetime(2026, 7, 1, 20, 0))
    nxt = shift(s.end, 12 * 3600, "08:00", "UTC")
    assert nxt.start == s.end and nxt.end == datetime(2026, 7, 2, 8, 0) and nxt.member != s.member


def test_a_handoff_inside_the_spring_forward_gap_is_when_the_clock_jumps() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC; a daily 02:30 handoff never happens
    # on the wall clock that night: it is at the jump.
    s = shift(datetime(2026, 3, 29, 1, 0), DAY, "02:30")
    assert s.start == datetime(2026, 3, 29, 1, 0)
    assert s.end == datetime(2026, 3, 30, 0, 30)  # the next night, 02:30 CEST
    prev = shift(datetime(2026, 3, 29, 0, 59, 59), DAY, "02:30")
    assert prev.end == s.start and prev.start == datetime(2026, 3, 28, 1, 30)  # 02:30 CET


def test_a_handoff_in_the_repeated_autumn_hour_is_its_first_occurrence() -> None:
    # Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
    s = shift(datetime(2026, 10, 25, 1, 10), DAY, "02:30")  # 02:10 CET, the second pass: already handed off
    assert s.start == datetime(2026, 10, 25, 0, 30) and s.end == datetime(2026, 10, 26, 1, 30)
    assert shift(datetime(2026, 10, 25, 0, 29), DAY, "02:30").end == s.start


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"])
@pytest.mark.parametrize("rotation,handoff", [(WEEK, "mon 09:00"), (DAY, "02:30"), (12 * 3600, "01:15")])
def test_shifts_tile_time_without_gaps_or_overlaps_for_a_year(tz: str, rotation: float, handoff: str) -> None:
    now = datetime(2026, 1, 1)
    s = shift(now, rotation, handoff, tz)
    while s.start < datetime(2027, 1, 1):
        assert s.start <= now < s.end or now == s.start
        nxt = shift(s.end, rotation, handoff, tz)
        assert nxt.start == s.end and nxt.index == s.index + 1 and nxt.start < nxt.end
        assert shift(s.end - timedelta(seconds=1), rotation, handoff, tz).index == s.index
        s, now = nxt, nxt.start
