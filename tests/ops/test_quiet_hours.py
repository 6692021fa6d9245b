"""Quiet hours as the rules read (`ops.notify.quiet`): wall-clock spans in the rule's time zone, across
midnight, whole days, spans on chosen days, the nights of both DST changes, touching periods, which
severities are quiet, and who is never quiet. Instants are naive UTC, as stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ops.config.models import QuietHours
from ops.model import Severity
from ops.notify.quiet import Quiet, never_quiet, quiet, rule_end
from ops.notify.types import AlertCard, Escalated, Reminder, Resolved

pytestmark = pytest.mark.no_ops_db

CHAT = -1001111
BERLIN = "Europe/Berlin"


def rule(**values: Any) -> QuietHours:
    return QuietHours.model_validate({"chats": [CHAT], "tz": BERLIN, **values})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


NIGHT = rule(when="22:00-08:00", mode="hold")


@pytest.mark.parametrize(
    ("at", "until"),
    [
        ("2026-01-14 20:59", None),  # 21:59 in Berlin (CET, UTC+1)
        ("2026-01-14 21:00", "2026-01-15 07:00"),  # 22:00: quiet until 08:00
        ("2026-01-14 23:30", "2026-01-15 07:00"),  # past midnight, local
        ("2026-01-15 06:59", "2026-01-15 07:00"),
        ("2026-01-15 07:00", None),  # 08:00: over
        ("2026-07-14 20:00", "2026-07-15 06:00"),  # summer (CEST, UTC+2): 22:00 to 08:00 local
        ("2026-07-14 19:59", None),
    ],
)
def test_a_span_across_midnight_in_local_time(at: str, until: str | None) -> None:
    got = quiet([NIGHT], CHAT, Severity.warning, utc(at))
    assert got == (Quiet("hold", utc(until)) if until else None)


def test_spring_forward_night_is_an_hour_shorter() -> None:
    # 2026-03-29: at 02:00 CET the clocks jump to 03:00 CEST. 22:00 CET = 21:00 UTC; 08:00 CEST = 06:00 UTC.
    assert quiet([NIGHT], CHAT, Severity.warning, utc("2026-03-28 20:59")) is None
    night = Quiet("hold", utc("2026-03-29 06:00"))
    for at in ("2026-03-28 21:00", "2026-03-29 00:59", "2026-03-29 01:00", "2026-03-29 05:59"):
        assert quiet([NIGHT], CHAT, Severity.warning, utc(at)) == night, at
    assert quiet([NIGHT], CHAT, Severity.warning, utc("2026-03-29 06:00")) is None


def test_fall_back_night_is_an_hour_longer() -> None:
    # 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET. 22:00 CEST = 20:00 UTC; 08:00 CET = 07:00 UTC.
    assert quiet([NIGHT], CHAT, Severity.warning, utc("2026-10-24 19:59")) is None
    night = Quiet("hold", utc("2026-10-25 07:00"))
    for at in ("2026-10-24 20:00", "2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 06:59"):
        assert quiet([NIGHT], CHAT, Severity.warning, utc(at)) == night, at
    assert quiet([NIGHT], CHAT, Severity.warning, utc("2026-10-25 07:00")) is None


def test_a_bound_in_the_skipped_hour_is_the_jump() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin: the span starts when the clocks jump (01:00 UTC).
    early = rule(when="02:30-06:00")
    assert rule_end(early, utc("2026-03-29 00:59")) is None
    assert rule_end(early, utc("2026-03-29 01:00")) == utc("2026-03-29 04:00")  # 06:00 CEST
    ends_in_gap = rule(when="23:00-02:30")
    assert rule_end(ends_in_gap, utc("2026-03-28 23:30")) == utc("2026-03-29 01:00")
    assert rule_end(ends_in_gap, utc("2026-03-29 01:00")) is None


def test_a_bound_in_the_repeated_hour_is_its_first_time() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin: at 00:30 UTC (CEST) and at 01:30 UTC (CET).
    span = rule(when="22:00-02:30")
    assert rule_end(span, utc("2026-10-25 00:29")) == utc("2026-10-25 00:30")
    assert rule_end(span, utc("2026-10-25 00:45")) is None  # 02:45 CEST
    assert rule_end(span, utc("2026-10-25 01:10")) is None  # 02:10 CET, the second time round: not again


def test_days_alone_are_whole_days_and_touching_days_are_one_period() -> None:
    weekend = rule(days=["sat", "sun"])
    assert quiet([weekend], CHAT, Severity.warning, utc("2026-01-16 22:59")) is None  # Fri 23:59 Berlin
    monday = Quiet("silent", utc("2026-01-18 23:00"))  # Mon 00:00 Berlin
    for at in ("2026-01-16 23:00", "2026-01-17 12:00", "2026-01-18 22:59"):
        assert quiet([weekend], CHAT, Severity.warning, utc(at)) == monday, at
    assert quiet([weekend], CHAT, Severity.warning, utc("2026-01-18 23:00")) is None


def test_a_span_on_days_belongs_to_the_day_it_starts() -> None:
    friday_night = rule(when="22:00-08:00", days=["fri"])
    assert rule_end(friday_night, utc("2026-01-16 22:00")) == utc("2026-01-17 07:00")  # Fri 23:00 → Sat 08:00
    assert rule_end(friday_night, utc("2026-01-17 06:00")) == utc("2026-01-17 07:00")  # Sat 07:00: Friday's
    assert rule_end(friday_night, utc("2026-01-17 22:00")) is None  # Sat 23:00: not Friday
    assert rule_end(friday_night, utc("2026-01-16 06:00")) is None  # Fri 07:00: Thursday's night, not Friday's


def test_touching_rules_make_one_period_until_the_last_ends() -> None:
    nights, weekend = rule(when="22:00-08:00", mode="hold"), rule(days=["sat", "sun"], mode="hold")
    # Fri 23:00 → the weekend → Sunday night's span → Monday 08:00.
    got = quiet([nights, weekend], CHAT, Severity.warning, utc("2026-01-16 22:00"))
    assert got == Quiet("hold", utc("2026-01-19 07:00"))


def test_equal_ends_are_a_whole_day() -> None:
    assert rule_end(rule(when="09:00-09:00"), utc("2026-01-15 08:00")) == utc("2026-01-16 08:00")


def test_time_zone_defaults_to_utc() -> None:
    plain = QuietHours.model_validate({"chats": [CHAT], "when": "22:00-08:00"})
    assert rule_end(plain, utc("2026-01-14 22:00")) == utc("2026-01-15 08:00")


def test_which_severities_and_chats_are_quiet() -> None:
    silent = rule(when="22:00-08:00")  # below: critical, mode: silent (the defaults)
    night, noon = utc("2026-01-14 22:00"), utc("2026-01-14 11:00")
    assert quiet([silent], CHAT, Severity.critical, night) is None
    assert quiet([silent], CHAT, Severity.error, night) == Quiet("silent", utc("2026-01-15 07:00"))
    assert quiet([silent], -1002222, Severity.warning, night) is None  # another chat: no rules
    assert quiet([rule(when="22:00-08:00", below="error")], CHAT, Severity.error, night) is None
    # info is silent at any hour, in any chat, unless a rule holds it
    assert quiet([], -1002222, Severity.info, noon) == Quiet("silent", None)
    assert quiet([NIGHT], CHAT, Severity.info, noon) == Quiet("silent", None)
    assert quiet([NIGHT], CHAT, Severity.info, night) == Quiet("hold", utc("2026-01-15 07:00"))
    assert quiet([], -1002222, Severity.warning, noon) is None
    # hold wins over silent where both apply
    assert quiet([silent, NIGHT], CHAT, Severity.warning, night) == Quiet("hold", utc("2026-01-15 07:00"))


def test_pages_are_never_quiet() -> None:
    assert never_quiet(AlertCard(escalated=True), CHAT)
    assert never_quiet(Escalated(after=600), CHAT)
    assert never_quiet(Reminder(), 4242)  # a private chat: where personal pages go
    assert not never_quiet(AlertCard(), CHAT)
    assert not never_quiet(Resolved(), CHAT)
