"""What /healthz answers for a running process: the database, this replica and the leader, the duties, the
scheduler, Telegram, the loaded config's hash. `problems` (present only when there are some) makes it a
503: still starting, the scheduler is not running on the leader, a detector has not run for 3 of its
intervals, or the SQLite file was deleted or replaced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from ops.duties import Duties
from ops.runtime import OpsCore
from ops.scheduler import SchedulerDuty
from ops.storage.db import reading


class Probe:
    """`schedule`: the leader's scheduler duty (None: this process schedules nothing); `telegram`: the
    state of the link to Telegram, as a word (`headless` without a token)."""

    def __init__(
        self,
        core: OpsCore,
        duties: Duties,
        schedule: SchedulerDuty | None,
        telegram: Callable[[], str] = lambda: "headless",
    ) -> None:
        self.core = core
        self.duties = duties
        self.schedule = schedule
        self.telegram = telegram

    async def __call__(self) -> dict[str, Any]:
        core = self.core
        async with reading(core.db) as conn:
            await conn.execute(text("SELECT 1"))
        body: dict[str, Any] = {
            "outbox_depth": await core.outbox.depth(),
            "outbox_held": await core.outbox.held_count(),  # kept by quiet hours for a morning digest
            "detectors": len(core.config.detectors),
            "alert_chats": len(core.settings.alert_chat_ids),
            "config": core.current.digest,
        }
        problems: list[str] = []
        if core.replicas.id:
            leadership = await core.replicas.leadership()
            core.metrics.replicas.set(leadership.live_replicas)
            body.update(leadership.as_dict())
        else:  # HTTP is up before the database is migrated and this replica registered: not ready yet
            problems.append("starting: not registered as a replica yet")
        leads = core.replicas.is_leader
        body["telegram"] = self.telegram()
        schedule = self.schedule
        if schedule is None:
            body["scheduler"] = "off"
        else:
            body["scheduler"] = "running" if leads and schedule.running else "stopped"
            if leads and body["scheduler"] != "running":
                problems.append("the scheduler is not running on the leader")
            elif leads and (stale := schedule.stale()):
                body["stale_detectors"] = stale
                problems.append(f"no run for 3 of their intervals: {', '.join(stale)}")
        body["duties"] = self.duties.as_dict()
        database = core.db_file.problem if core.db_file is not None else None
        body["database"] = database or "ok"
        if database:
            problems.append(database)
        if problems:
            body["problems"] = problems
        return body
