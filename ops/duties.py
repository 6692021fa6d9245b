"""Duties: the long-running jobs of a process (the scheduler, the Telegram poller, the outbox sender,
housekeeping), kept alive by one supervisor instead of a try/except in each.

A duty is an async function that runs until it is cancelled. If it raises — or returns, or is cancelled by
anything but `Duties.stop` — it has died: the supervisor logs that once for the failure streak (with the
traceback), waits a backoff (0.5 s, doubling up to 10 s) and runs it again, as often as it takes. The streak
ends when the duty says it is healthy (`Duties.healthy`, or a periodic duty's tick succeeding) or has run for
`settle` seconds; then the supervisor says, once, that it is back. A duty started with `once=True` is done
when its function returns (Telegram's webhook registration, for one).

`Duties.as_dict()` is what `/healthz` shows: each duty's state, its restarts and the last error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ops.timeutil import utcnow

log = logging.getLogger(__name__)

RUNNING, RESTARTING, DONE, STOPPED = "running", "restarting", "done", "stopped"
BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0
SETTLE = 60.0  # seconds a run must last (without saying it is healthy) to end a failure streak

Run = Callable[[], Awaitable[object]]


def describe(exc: BaseException) -> str:
    """`Type: message` on one line, short enough for a log line and /healthz."""
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"[:300]


STOP_WAIT = 10.0  # seconds `stop` waits for its duties to end before it goes on without them


class DutyDied(Exception):
    """A duty ended without being asked to: it returned, or was cancelled from inside."""


class Duty:
    def __init__(self, name: str, run: Run, *, once: bool, quiet: tuple[type[BaseException], ...] = ()) -> None:
        self.name = name
        self.run = run
        self.once = once
        self.quiet = quiet
        self.state = RUNNING
        self.since: datetime = utcnow()
        self.restarts = 0
        self.failures = 0  # in the current streak
        self.last_error: str | None = None
        self.task: asyncio.Task[None] | None = None
        self._settle: asyncio.TimerHandle | None = None

    def _enter(self, state: str) -> None:
        if state != self.state:
            self.state, self.since = state, utcnow()

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"state": self.state, "since": self.since.isoformat() + "Z", "restarts": self.restarts}
        if self.last_error is not None:
            body["last_error"] = self.last_error
        return body


class Duties:
    def __init__(self, *, backoff_min: float = BACKOFF_MIN, backoff_max: float = BACKOFF_MAX, settle: float = SETTLE):
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.settle = settle
        self._duties: dict[str, Duty] = {}

    def start(self, name: str, run: Run, *, once: bool = False, quiet: tuple[type[BaseException], ...] = ()) -> Duty:
        """Run `run` under supervision. `quiet`: failures expected in the course of things (Telegram
        unreachable) are logged in one line, without a traceback."""
        current = self._duties.get(name)
        if current is not None and current.task is not None and not current.task.done():
            raise RuntimeError(f"duty {name} is already running")
        duty = Duty(name, run, once=once, quiet=quiet)
        self._duties[name] = duty
        duty.task = asyncio.create_task(self._supervise(duty), name=f"duty:{name}")
        return duty

    def every(self, name: str, seconds: float | Callable[[], float], tick: Run) -> Duty:
        """A periodic duty: `tick` now, then every `seconds`; a tick that succeeds ends a failure streak."""

        async def loop() -> None:
            while True:
                await tick()
                self.healthy(name)
                await asyncio.sleep(seconds() if callable(seconds) else seconds)

        return self.start(name, loop)

    def healthy(self, name: str) -> None:
        """The duty made progress: its failure streak (if any) is over."""
        duty = self._duties.get(name)
        if duty is not None and duty.state == RUNNING:
            self._recovered(duty)

    def get(self, name: str) -> Duty | None:
        return self._duties.get(name)

    def running(self, name: str) -> bool:
        duty = self._duties.get(name)
        return duty is not None and duty.state == RUNNING

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: duty.as_dict() for name, duty in sorted(self._duties.items())}

    async def stop(self, *names: str) -> None:
        """Stop these duties (all of them without names) and wait until they have."""
        duties = [self._duties[n] for n in names if n in self._duties] if names else list(self._duties.values())
        pending = {d.task for d in duties if d.task is not None and not d.task.done()}
        deadline = asyncio.get_running_loop().time() + STOP_WAIT
        while pending:
            # Cancelled again each round: a duty whose code swallowed one cancellation (a `wait_for` racing
            # its own timeout does) gets another rather than holding the stop forever.
            for task in pending:
                task.cancel()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                names = sorted(d.name for d in duties if d.task in pending)
                log.error("duties %s did not stop within %gs; going on without them", ", ".join(names), STOP_WAIT)
                break
            _, pending = await asyncio.wait(pending, timeout=min(left, 1.0))
        for duty in duties:
            self._cancel_settle(duty)
            duty._enter(STOPPED)

    # -- the supervisor ----------------------------------------------------------------------
    async def _supervise(self, duty: Duty) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff_min
        while True:
            duty._enter(RUNNING)
            duty._settle = loop.call_later(self.settle, self._recovered, duty)
            try:
                await duty.run()
                if duty.once:
                    self._cancel_settle(duty)
                    self._recovered(duty)
                    duty._enter(DONE)
                    return
                raise DutyDied("it returned")
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # `stop`: the duty ends here
                error: BaseException = DutyDied("cancelled from inside" + (f" ({exc})" if str(exc) else ""))
                error.__cause__ = exc
            except Exception as exc:
                error = exc
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # `stop` asked, and the duty's code swallowed it: end here all the same
            self._cancel_settle(duty)
            if duty.failures == 0:
                backoff = self.backoff_min
                log.error(
                    "duty %s died: %s — restarting it with backoff (logged once until it is back)",
                    duty.name,
                    describe(error),
                    exc_info=None if isinstance(error, duty.quiet) else error,
                )
            else:
                log.debug("duty %s died again: %s", duty.name, describe(error))
            duty.failures += 1
            duty.restarts += 1
            duty.last_error = describe(error)
            duty._enter(RESTARTING)
            await asyncio.sleep(backoff)
            backoff = min(self.backoff_max, backoff * 2)

    def _recovered(self, duty: Duty) -> None:
        self._cancel_settle(duty)
        if duty.failures:
            log.info("duty %s is back after %d failure(s)", duty.name, duty.failures)
            duty.failures = 0

    @staticmethod
    def _cancel_settle(duty: Duty) -> None:
        if duty._settle is not None:
            duty._settle.cancel()
            duty._settle = None
