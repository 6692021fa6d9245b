"""How long a failed outbox row waits: no emulator, no database."""

from __future__ import annotations

import pytest

from bot.delivery.backoff import GIVE_UP_AFTER, MAX_BACKOFF, transient_delay, unexpected_delay

pytestmark = pytest.mark.no_ops_db  # pure functions on plain values


def test_transient_errors_wait_the_base_then_double() -> None:
    # `attempts` counts the tries made before the one that failed
    assert [transient_delay(n, 1.0) for n in range(6)] == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert [transient_delay(n, 0.05) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]


def test_transient_waits_are_capped_and_never_give_up() -> None:
    assert MAX_BACKOFF == 60.0
    assert transient_delay(7, 1.0) == 60.0
    assert transient_delay(10_000, 1.0) == 60.0  # a week-long outage: 2.0 ** 9999 must not overflow


def test_an_unexpected_error_is_retried_a_few_times_then_given_up() -> None:
    assert GIVE_UP_AFTER == 5
    assert [unexpected_delay(n) for n in range(5)] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert unexpected_delay(5) is None
    assert unexpected_delay(6) is None
