"""Mean time to acknowledge and to resolve, per detector (its alerts) and overall (incidents), over a span.

Acknowledged is the first `acknowledged` event of an alert (an unack does not undo the response time);
an alert or incident counts where it started within the span."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.storage.tables import alert_events, alerts_history, incidents


@dataclass
class Times:
    count: int = 0  # alerts (per detector) or incidents (overall) that started in the span
    to_ack: list[float] = field(default_factory=list)  # seconds, of those acknowledged
    to_resolve: list[float] = field(default_factory=list)  # seconds, of those resolved

    @property
    def mtta(self) -> float | None:
        return sum(self.to_ack) / len(self.to_ack) if self.to_ack else None

    @property
    def mttr(self) -> float | None:
        return sum(self.to_resolve) / len(self.to_resolve) if self.to_resolve else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "acknowledged": len(self.to_ack),
            "resolved": len(self.to_resolve),
            "mtta_seconds": self.mtta,
            "mttr_seconds": self.mttr,
        }


@dataclass(frozen=True)
class ResponseTimes:
    since: datetime
    until: datetime
    overall: Times
    detectors: dict[str, Times]


async def response_times(conn: AsyncConnection, since: datetime, until: datetime) -> ResponseTimes:
    acked = (
        select(alert_events.c.incident_id, func.min(alert_events.c.ts).label("at"))
        .where(alert_events.c.event == "acknowledged", alert_events.c.incident_id.is_not(None))
        .group_by(alert_events.c.incident_id)
        .subquery()
    )
    rows = await conn.execute(
        select(
            alerts_history.c.id,
            alerts_history.c.source,
            alerts_history.c.created_at,
            alerts_history.c.status,
            alerts_history.c.resolved_at,
            alerts_history.c.group_id,
            acked.c.at.label("acked_at"),
        )
        .outerjoin(acked, acked.c.incident_id == alerts_history.c.id)
        .where(alerts_history.c.created_at >= since, alerts_history.c.created_at < until)
    )
    detectors: dict[str, Times] = defaultdict(Times)
    for r in rows:
        times = detectors[r.source]
        times.count += 1
        if r.acked_at is not None:
            times.to_ack.append(max(0.0, (r.acked_at - r.created_at).total_seconds()))
        if r.status == "resolved" and r.resolved_at is not None:
            times.to_resolve.append(max(0.0, (r.resolved_at - r.created_at).total_seconds()))
    overall = await _incident_times(conn, acked, since, until)
    return ResponseTimes(since, until, overall, dict(sorted(detectors.items())))


async def _incident_times(conn: AsyncConnection, acked: object, since: datetime, until: datetime) -> Times:
    """Per incident: acknowledged at its first alert's first ack, resolved when its last alert resolved."""
    rows = await conn.execute(
        select(
            incidents.c.id,
            incidents.c.opened_at,
            func.min(acked.c.at).label("acked_at"),  # type: ignore[attr-defined]
            func.max(alerts_history.c.resolved_at).label("resolved_at"),
            func.sum(case((alerts_history.c.status != "resolved", 1), else_=0)).label("open"),
        )
        .join(alerts_history, alerts_history.c.group_id == incidents.c.id)
        .outerjoin(acked, acked.c.incident_id == alerts_history.c.id)  # type: ignore[attr-defined]
        .where(incidents.c.opened_at >= since, incidents.c.opened_at < until)
        .group_by(incidents.c.id, incidents.c.opened_at)
    )
    times = Times()
    for r in rows:
        times.count += 1
        if r.acked_at is not None:
            times.to_ack.append(max(0.0, (r.acked_at - r.opened_at).total_seconds()))
        if not r.open and r.resolved_at is not None:
            times.to_resolve.append(max(0.0, (r.resolved_at - r.opened_at).total_seconds()))
    return times
