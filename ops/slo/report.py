"""The weekly SLO report's schedule: `slo_report: "mon 09:00"` in `slo_report_tz`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.schedules import next_run_after, parse_report_time
from ops.detectors.memory import recall, remember
from ops.notify.types import SloReport
from ops.storage.outbox import enqueue
from ops.timeutil import Clock

if TYPE_CHECKING:  # the config module imports this one
    from ops.config.current import CurrentConfig
    from ops.config.models import OpsConfig
    from ops.settings import Settings


def next_report_after(trigger: CronTrigger, after: datetime) -> datetime | None:
    return next_run_after(trigger, after)


class WeeklyReport:
    """Posts the SLO report to the alert chats once per scheduled time (remembered in the database,
    so a restart neither skips nor repeats one)."""

    MEMORY_KEY = ("slo_report", "")

    def __init__(
        self, db: AsyncEngine, settings: Settings, config: CurrentConfig, clock: Clock, on_enqueue: Any
    ) -> None:
        self.db = db
        self.settings = settings
        self.current = config
        self.clock = clock
        self.on_enqueue = on_enqueue

    @property
    def config(self) -> OpsConfig:
        return self.current.config

    @property
    def trigger(self) -> CronTrigger | None:
        """When the report is due, by the config loaded now (None: no weekly report)."""
        return self.current.derived(
            "slo_report", lambda c: parse_report_time(c.slo_report, c.slo_report_tz) if c.slo_report else None
        )

    async def maybe_send(self) -> bool:
        if self.trigger is None or not self.config.slos:
            return False
        now = self.clock()
        memory = await recall(self.db, *self.MEMORY_KEY)
        if memory is None:  # first start: the first report is the next scheduled one
            await remember(self.db, *self.MEMORY_KEY, now, {"armed": True})
            return False
        due = next_report_after(self.trigger, memory[0])
        if due is None or now < due:
            return False
        async with self.db.begin() as conn:
            await enqueue(conn, list(dict.fromkeys(self.settings.alert_chat_ids)), SloReport(due=due.isoformat()), now)
        await remember(self.db, *self.MEMORY_KEY, now, {"sent_for": due.isoformat()})
        if self.on_enqueue is not None:
            self.on_enqueue()
        return True
