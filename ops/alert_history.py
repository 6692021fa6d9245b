"""The incidents as people look them up: pages of history (all, or those sent to a chat), a reference
typed in a command (`17`, `#a1b2c3d4`), a detector's newest open incident."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.engine.incidents import IncidentService
from ops.model import Incident, Severity
from ops.storage.incident_rows import incident_from_row
from ops.storage.tables import alerts_history, outbox


@dataclass(frozen=True)
class AlertPage:
    incidents: list[Incident]
    total: int
    offset: int
    limit: int


class AlertHistory:
    def __init__(self, db: AsyncEngine, incidents: IncidentService) -> None:
        self.db = db
        self.incidents = incidents

    async def open_incident_for(self, detector: str) -> Incident | None:
        """The newest open incident of a detector (for /remediate <detector>)."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(alerts_history)
                    .where(alerts_history.c.source == detector, alerts_history.c.status != "resolved")
                    .order_by(alerts_history.c.id.desc())
                    .limit(1)
                )
            ).first()
        return incident_from_row(row) if row else None

    async def resolve_reference(self, ref: str) -> Incident | None:
        """`17` (incident id) or `#a1b2c3d4` (fingerprint prefix)."""
        ref = ref.strip()
        if ref.startswith("#"):
            prefix = ref[1:].lower()
            if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
                return None
            return await self.incidents.find_by_fingerprint(prefix)
        if re.fullmatch("[0-9]{1,9}", ref):  # ASCII digits ("²" is no number, "٥" not 5); an int4 id
            return await self.incidents.get(int(ref))
        return None

    async def alerts(
        self,
        *,
        chat_id: int | None,
        severity: Severity | None = None,
        limit: int = 10,
        offset: int = 0,
        status: str | None = None,
        before_id: int | None = None,
    ) -> AlertPage:
        """Incidents newest first; `chat_id` limits them to those sent to that chat (None: all);
        `before_id` pages by id (a cursor) instead of by offset."""
        conds = []
        if status is not None:
            conds.append(alerts_history.c.status == status)
        if before_id is not None:
            conds.append(alerts_history.c.id < before_id)
        if chat_id is not None:
            sent_here = select(outbox.c.incident_id).where(outbox.c.chat_id == chat_id, outbox.c.kind == "alert")
            conds.append(alerts_history.c.id.in_(sent_here))
        if severity is not None:
            conds.append(alerts_history.c.severity == severity.value)
        where = and_(*conds) if conds else None
        query: Select[Any] = select(alerts_history).order_by(alerts_history.c.id.desc()).limit(limit).offset(offset)
        count_q: Select[Any] = select(func.count()).select_from(alerts_history)
        if where is not None:
            query = query.where(where)
            count_q = count_q.where(where)
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
            total = int(await conn.scalar(count_q) or 0)
        return AlertPage([incident_from_row(r) for r in rows], total, offset, limit)
