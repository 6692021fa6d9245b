"""An incident as read from its alerts: its state is theirs (open while any fires, acknowledged when one
of its open alerts is, resolved when all are), so nothing has to keep a second copy in step."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.model import Incident, IncidentStatus, Severity
from ops.storage.incident_rows import incident_from_row
from ops.storage.tables import alerts_history, incidents


@dataclass(frozen=True)
class IncidentGroup:
    """One incident: its alerts (oldest first) and what follows from them."""

    id: int
    title: str
    opened_at: datetime
    alerts: tuple[Incident, ...]

    @property
    def status(self) -> IncidentStatus:
        open_ = [a for a in self.alerts if a.is_open]
        if not open_:
            return IncidentStatus.resolved
        if any(a.status is IncidentStatus.acknowledged for a in open_):
            return IncidentStatus.acknowledged
        return IncidentStatus.firing

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.resolved

    @property
    def _current(self) -> list[Incident]:
        """The alerts its state is read from: the open ones; once resolved, all (so a resolved incident
        keeps its severity and who acknowledged it)."""
        return [a for a in self.alerts if a.is_open] or list(self.alerts)

    @property
    def severity(self) -> Severity:
        return max((a.severity for a in self._current), key=lambda s: s.rank, default=Severity.error)

    @property
    def acknowledged_by(self) -> str | None:
        acked = sorted((a for a in self._current if a.acknowledged_at), key=lambda a: a.acknowledged_at)
        return acked[0].acknowledged_by if acked else None

    @property
    def acknowledged_at(self) -> datetime | None:
        times = [a.acknowledged_at for a in self._current if a.acknowledged_at]
        return min(times) if times else None

    @property
    def resolved_at(self) -> datetime | None:
        if self.is_open:
            return None
        times = [a.resolved_at for a in self.alerts if a.resolved_at]
        return max(times) if times else None

    @property
    def detectors(self) -> list[str]:
        return list(dict.fromkeys(a.source for a in self.alerts))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "severity": self.severity.value,
            "opened_at": self.opened_at.isoformat(),
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "alerts": [a.id for a in self.alerts],
            "detectors": self.detectors,
        }


@dataclass(frozen=True)
class GroupState:
    """An incident's title, status and severity without its alerts (`group_state`): what keeping its forum
    topic in step needs after every message, even when the incident holds hundreds of alerts."""

    id: int
    title: str
    status: IncidentStatus
    severity: Severity

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.resolved


_BY_RANK = {s.rank: s for s in Severity}


async def group_state(conn: AsyncConnection, group_id: int) -> GroupState | None:
    """The incident's state as `IncidentGroup` reads it from its alerts, in one aggregate query: open
    while one of its alerts is, acknowledged when an open one is, its severity the highest of the open
    alerts (of all, once resolved). None: no such incident."""
    rank = case({s.value: s.rank for s in Severity}, value=alerts_history.c.severity)
    is_open = alerts_history.c.status != IncidentStatus.resolved.value
    row = (
        await conn.execute(
            select(
                incidents.c.title,
                func.sum(case((is_open, 1), else_=0)).label("open"),
                func.sum(case((alerts_history.c.status == IncidentStatus.acknowledged.value, 1), else_=0)).label(
                    "acked"
                ),
                func.max(case((is_open, rank))).label("open_rank"),
                func.max(rank).label("any_rank"),
            )
            .select_from(incidents.outerjoin(alerts_history, alerts_history.c.group_id == incidents.c.id))
            .where(incidents.c.id == group_id)
            .group_by(incidents.c.id, incidents.c.title)
        )
    ).first()
    if row is None:
        return None
    if not row.open:
        status = IncidentStatus.resolved
    else:
        status = IncidentStatus.acknowledged if row.acked else IncidentStatus.firing
    top = row.open_rank if row.open else row.any_rank
    severity = _BY_RANK.get(int(top), Severity.error) if top is not None else Severity.error
    return GroupState(group_id, row.title, status, severity)


async def load_groups(conn: AsyncConnection, ids: list[int]) -> dict[int, IncidentGroup]:
    """These incidents with their alerts (ids not found are left out)."""
    found: dict[int, IncidentGroup] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        heads = (await conn.execute(select(incidents).where(incidents.c.id.in_(chunk)))).all()
        members: dict[int, list[Incident]] = defaultdict(list)
        rows = await conn.execute(
            select(alerts_history).where(alerts_history.c.group_id.in_(chunk)).order_by(alerts_history.c.id)
        )
        for row in rows:
            members[row.group_id].append(incident_from_row(row))
        for head in heads:
            found[head.id] = IncidentGroup(head.id, head.title, head.opened_at, tuple(members[head.id]))
    return found


async def load_group(conn: AsyncConnection, group_id: int) -> IncidentGroup | None:
    return (await load_groups(conn, [group_id])).get(group_id)


async def open_group_ids(conn: AsyncConnection) -> list[int]:
    """Every open incident, oldest first (few: the open alerts' incidents)."""
    rows = await conn.execute(
        select(alerts_history.c.group_id)
        .where(alerts_history.c.status != "resolved", alerts_history.c.group_id.is_not(None))
        .distinct()
    )
    return sorted(int(r.group_id) for r in rows)


async def group_of_alert(conn: AsyncConnection, alert_id: int) -> int | None:
    value = await conn.scalar(select(alerts_history.c.group_id).where(alerts_history.c.id == alert_id))
    return int(value) if value is not None else None


async def groups_of_alerts(conn: AsyncConnection, alert_ids: list[int]) -> dict[int, int]:
    """alert id → its incident's id (alerts from before incidents, with none, are left out)."""
    found: dict[int, int] = {}
    for start in range(0, len(alert_ids), 500):
        rows = await conn.execute(
            select(alerts_history.c.id, alerts_history.c.group_id).where(
                alerts_history.c.id.in_(alert_ids[start : start + 500]), alerts_history.c.group_id.is_not(None)
            )
        )
        found.update({int(r.id): int(r.group_id) for r in rows})
    return found
