"""`heartbeat`: a dead man's switch, as healthchecks.io does it.

Fails when the last ping was `/fail`, when a run that started has not finished within
`max_runtime`, or when the next expected ping (after `period`, or the next `schedule` time after
the last ping) is later than `grace` overdue. No ping ever is "no data".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal

from pydantic import model_validator

from ops.config.fields import Cron, Duration, TimeZone
from ops.config.kinds import DetectorBase
from ops.config.schedules import next_run_after, parse_cron
from ops.detectors.base import Check, DetectorContext, result
from ops.model import CheckResult, CheckStatus
from ops.pings import PingStore
from ops.timeutil import format_duration


class HeartbeatDetector(DetectorBase):
    """`heartbeat`: a dead man's switch. The job pings /ping/<name>; silence past the grace fails."""

    kind: Literal["heartbeat"] = "heartbeat"
    period: Duration | None = None
    schedule: Cron | None = None
    tz: TimeZone = "UTC"
    grace: Duration = 300.0
    max_runtime: Duration | None = None
    pinged: ClassVar[bool] = True

    @model_validator(mode="after")
    def _period_or_schedule(self) -> HeartbeatDetector:
        if (self.period is None) == (self.schedule is None):
            raise ValueError('give exactly one of period (e.g. 1h) or schedule (cron, e.g. "0 3 * * *")')
        return self


class HeartbeatCheck(Check[HeartbeatDetector]):
    def __init__(self, config: HeartbeatDetector, ctx: DetectorContext) -> None:
        super().__init__(config, ctx)
        self.trigger = parse_cron(config.schedule, config.tz) if config.schedule else None

    def expected_after(self, last: datetime) -> datetime | None:
        if self.config.period is not None:
            return last + timedelta(seconds=self.config.period)
        assert self.trigger is not None
        return next_run_after(self.trigger, last)

    async def check(self) -> list[CheckResult]:
        cfg = self.config
        if self.ctx.db is None:
            return [result(cfg, "", CheckStatus.error, f"{cfg.name}: no database for pings")]
        done, start = await PingStore(self.ctx.db).latest(cfg.name)
        now = self.ctx.clock()
        every = f"every {format_duration(cfg.period)}" if cfg.period else f"on schedule {cfg.schedule} ({cfg.tz})"
        window = f"{every} + {format_duration(cfg.grace)} grace"
        if done is None and start is None:
            return [result(cfg, "", CheckStatus.no_data, f"{cfg.name}: no ping yet ({window})", unit="s")]
        if start is not None and (done is None or start.id > done.id):  # ids keep arrival order
            running = (now - start.ts).total_seconds()
            if cfg.max_runtime is not None and running > cfg.max_runtime:
                message = (
                    f"{cfg.name}: started {format_duration(running)} ago and has not finished "
                    f"(max runtime {format_duration(cfg.max_runtime)})"
                )
                return [result(cfg, "", CheckStatus.fail, message, value=running, unit="s")]
            if done is None:
                return [
                    result(
                        cfg,
                        "",
                        CheckStatus.ok,
                        f"{cfg.name}: running for {format_duration(running)}",
                        value=running,
                        unit="s",
                    )
                ]
        assert done is not None
        age = (now - done.ts).total_seconds()
        if done.kind == "fail":
            said = f": {done.body}" if done.body else ""
            message = f"{cfg.name}: the job reported failure {format_duration(age)} ago{said}"
            return [result(cfg, "", CheckStatus.fail, message, value=age, unit="s")]
        expected = self.expected_after(done.ts)
        if expected is not None and now > expected + timedelta(seconds=cfg.grace):
            message = (
                f"{cfg.name}: last ping {format_duration(age)} ago; expected by "
                f"{expected.strftime('%Y-%m-%d %H:%M UTC')} ({window})"
            )
            return [result(cfg, "", CheckStatus.fail, message, value=age, threshold=window, unit="s")]
        return [
            result(
                cfg,
                "",
                CheckStatus.ok,
                f"{cfg.name}: last ping {format_duration(age)} ago",
                value=age,
                threshold=window,
                unit="s",
            )
        ]
