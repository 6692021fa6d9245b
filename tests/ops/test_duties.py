"""The duty supervisor on its own: a duty that raises, returns or is cancelled from inside runs again with
a growing backoff; a streak is logged once; `stop` ends a duty for good; a one-shot duty is done."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import pytest

from ops.duties import DONE, RESTARTING, RUNNING, STOPPED, Duties

pytestmark = pytest.mark.no_ops_db


async def test_a_dying_duty_restarts_with_a_growing_backoff_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    duties = Duties(backoff_min=0.05, backoff_max=0.2, settle=60)
    starts: list[float] = []

    async def flaky() -> None:
        starts.append(time.monotonic())
        if len(starts) <= 4:
            raise RuntimeError(f"failure {len(starts)}")
        duties.healthy("flaky")
        await asyncio.Event().wait()

    caplog.set_level(logging.DEBUG, logger="ops.duties")
    duties.start("flaky", flaky)
    while len(starts) < 5:
        await asyncio.sleep(0.01)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert [round(g, 2) >= want for g, want in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=True)] == [True] * 4
    assert max(gaps) < 1.0  # capped at backoff_max (with room for a busy machine)
    state = duties.as_dict()["flaky"]
    assert state["state"] == RUNNING and state["restarts"] == 4 and state["last_error"] == "RuntimeError: failure 4"
    logged = [(r.levelname, r.getMessage().split(" — ")[0]) for r in caplog.records if r.levelno >= logging.INFO]
    assert logged == [
        ("ERROR", "duty flaky died: RuntimeError: failure 1"),
        ("INFO", "duty flaky is back after 4 failure(s)"),
    ]
    await duties.stop()
    assert duties.as_dict()["flaky"]["state"] == STOPPED


async def test_returning_or_a_cancel_from_inside_is_a_death_but_stop_is_not() -> None:
    duties = Duties(backoff_min=0.01, backoff_max=0.01)
    runs = {"returns": 0, "cancelled": 0}

    async def returns() -> None:
        runs["returns"] += 1

    async def cancelled() -> None:
        runs["cancelled"] += 1
        raise asyncio.CancelledError("from a library, not from stop()")

    duties.start("returns", returns)
    duties.start("cancelled", cancelled)
    while min(runs.values()) < 3:
        await asyncio.sleep(0.01)
    state = duties.as_dict()
    assert state["returns"]["last_error"] == "DutyDied: it returned"
    assert state["cancelled"]["last_error"].startswith("DutyDied: cancelled from inside")
    await duties.stop("returns", "cancelled")
    seen = dict(runs)
    await asyncio.sleep(0.05)
    assert runs == seen and {s["state"] for s in duties.as_dict().values()} == {STOPPED}


async def test_a_one_shot_duty_is_done_once_it_succeeds() -> None:
    duties = Duties(backoff_min=0.01, backoff_max=0.01)
    tries = {"n": 0}

    async def register() -> None:
        tries["n"] += 1
        if tries["n"] < 3:
            raise ConnectionError("Telegram is unreachable")

    duty = duties.start("webhook", register, once=True, quiet=(ConnectionError,))
    while duty.state != DONE:
        await asyncio.sleep(0.01)
    assert tries["n"] == 3 and duty.restarts == 2


async def test_a_run_that_lasts_ends_the_streak_so_the_next_death_is_logged_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    duties = Duties(backoff_min=0.01, backoff_max=0.01, settle=0.1)
    go_on = asyncio.Event()
    runs = {"n": 0}

    async def dies_after_a_while() -> None:
        runs["n"] += 1
        if runs["n"] == 2:
            await go_on.wait()
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="ops.duties")
    duty = duties.start("d", dies_after_a_while)
    while runs["n"] < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the second run has lasted `settle`: the streak is over
    assert duty.failures == 0 and duty.state == RUNNING
    go_on.set()
    while duty.state != RESTARTING or runs["n"] < 3:
        await asyncio.sleep(0.005)
    await duties.stop()
    died = [r for r in caplog.records if r.getMessage().startswith("duty d died")]
    assert len(died) == 2


async def test_stop_ends_a_duty_whose_code_swallows_the_cancellation() -> None:
    """A duty that catches stop's cancellation and returns (or carries on) is not restarted: stop ends it."""
    duties = Duties(backoff_min=0.01, backoff_max=0.01)
    started = asyncio.Event()
    runs = 0

    async def swallows() -> None:
        nonlocal runs
        runs += 1
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return  # as a `wait_for` racing its own timeout can

    duties.start("swallows", swallows)
    await started.wait()
    await asyncio.wait_for(duties.stop(), 5)
    assert duties.as_dict()["swallows"]["state"] == STOPPED and runs == 1


async def test_stop_goes_on_without_a_duty_that_never_ends(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("ops.duties.STOP_WAIT", 0.3)
    duties = Duties()
    started = asyncio.Event()
    release = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)

    duties.start("stubborn", stubborn)
    await started.wait()
    await asyncio.wait_for(duties.stop(), 5)
    assert "duties stubborn did not stop within 0.3s" in caplog.text
    release.set()
