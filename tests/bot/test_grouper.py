"""Storm grouping decided on plain outbox rows: no emulator, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.delivery.grouper import Grouping, held, storm
from ops.storage.outbox import OutboxRow

pytestmark = pytest.mark.no_ops_db  # pure functions on plain values

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RULES = Grouping(threshold=3, wait_sec=2.0, max_entries=30)
_ids = iter(range(1, 10_000))


def row(kind: str = "alert", incident: int | None = 1, *, queued: int = 0, **fields: Any) -> OutboxRow:
    values: dict[str, Any] = {
        "id": next(_ids),
        "created_at": T0,
        "chat_id": -100,
        "kind": kind,
        "incident_id": incident,
        "payload": {},
        "attempts": 0,
        "message_ids": [],
        "queued": queued,
    }
    values.update(fields)
    return OutboxRow(**values)


def alerts(n: int, first_incident: int = 1) -> list[OutboxRow]:
    return [row("alert", first_incident + i) for i in range(n)]


def test_a_lone_alert_is_not_held() -> None:
    assert not held(row(queued=1), T0, RULES)


def test_a_storm_is_held_until_group_wait_after_its_first_notification() -> None:
    head = row(queued=6)
    assert held(head, T0, RULES)
    assert held(head, T0 + timedelta(seconds=1.9), RULES)
    assert not held(head, T0 + timedelta(seconds=2), RULES)


def test_retries_digests_and_messages_other_than_notifications_are_not_held() -> None:
    assert not held(row(queued=6, attempts=1), T0, RULES)
    assert not held(row(queued=6, digest_id=7), T0, RULES)
    assert not held(row("slo_report", None, queued=6), T0, RULES)
    assert not held(row("refresh", queued=6), T0, RULES)
    assert not held(row(queued=6, message_ids=[41]), T0, RULES)  # half sent: its rest goes now


def test_no_group_wait_when_it_is_zero() -> None:
    assert not held(row(queued=6), T0, Grouping(threshold=3, wait_sec=0, max_entries=30))


def test_more_than_threshold_notifications_make_one_digest() -> None:
    rows = alerts(4)
    assert storm(rows[0], rows, RULES) == rows


def test_threshold_many_notifications_go_on_their_own() -> None:
    rows = alerts(3)
    assert storm(rows[0], rows, RULES) is None


def test_the_digest_stops_at_the_first_row_a_digest_cannot_stand_for() -> None:
    rows = [*alerts(4), row("remediation", 9), *alerts(3, first_incident=10)]
    assert storm(rows[0], rows, RULES) == rows[:4]
    half_sent = [*alerts(4), row("reminder", 9, message_ids=[5]), *alerts(2, first_incident=10)]
    assert storm(half_sent[0], half_sent, RULES) == half_sent[:4]


def test_card_edits_keep_their_place_and_are_not_in_the_digest() -> None:
    rows = [*alerts(2), row("refresh", 1), *alerts(2, first_incident=3)]
    assert storm(rows[0], rows, RULES) == [rows[0], rows[1], rows[3], rows[4]]


def test_several_notifications_of_one_incident_count_once_towards_the_cap() -> None:
    rules = Grouping(threshold=2, wait_sec=2.0, max_entries=3)
    rows = [row("alert", 1), row("resolved", 1), row("alert", 2), row("alert", 3), row("reminder", 2), row("alert", 4)]
    assert storm(rows[0], rows, rules) == rows[:5]  # incident 4 would be the fourth line: the next digest


def test_a_big_storm_is_cut_at_max_entries_distinct_incidents() -> None:
    rows = alerts(45)
    assert storm(rows[0], rows, RULES) == rows[:30]
    rest = rows[30:]
    assert storm(rest[0], rest, RULES) == rest


def test_threshold_zero_turns_grouping_off() -> None:
    off = Grouping(threshold=0, wait_sec=2.0, max_entries=30)
    rows = alerts(50)
    assert storm(rows[0], rows, off) is None
    assert not held(row(queued=50), T0, off)


def test_a_head_a_digest_cannot_stand_for_goes_on_its_own() -> None:
    rows = [row("slo_report", None), *alerts(6)]
    assert storm(rows[0], rows, RULES) is None
