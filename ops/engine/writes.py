"""What one engine run writes, gathered and then executed as a few bulk statements.

A storm turns 1,000 results into thousands of rows; one statement per row costs a database round trip
each (a thread hop with aiosqlite), so the engine collects them here and flushes once per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.incidents.grouping import Joining, assign
from ops.notify.types import Notification
from ops.storage.outbox import outbox_row
from ops.storage.tables import alert_events, alert_state, alerts_history, outbox


@dataclass(eq=False)
class NewIncident:
    """An incident to insert; its id is known after the flush."""

    values: dict[str, Any]
    joining: Joining | None = None  # how it finds its incident (ops.incidents.grouping)
    id: int | None = None


IncidentRef = int | NewIncident


@dataclass
class Writes:
    new_incidents: list[NewIncident] = field(default_factory=list)
    incident_updates: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    states_new: list[dict[str, Any]] = field(default_factory=list)
    states_changed: list[dict[str, Any]] = field(default_factory=list)

    def incident(self, values: dict[str, Any], joining: Joining | None = None) -> NewIncident:
        new = NewIncident(values, joining)
        self.new_incidents.append(new)
        return new

    def update_incident(self, incident_id: int, **values: Any) -> None:
        keys = tuple(sorted(values))
        self.incident_updates.setdefault(keys, []).append({"b__id": incident_id, **{f"b_{k}": values[k] for k in keys}})

    def enqueue(self, chat_id: int, notification: Notification, now: datetime, incident: IncidentRef | None) -> None:
        self.outbox_rows.append(outbox_row(chat_id, notification, now, incident))

    def event(self, event: str, now: datetime, incident: IncidentRef | None, fingerprint: str, detail: str) -> None:
        self.events.append(
            {
                "ts": now,
                "incident_id": incident,
                "fingerprint": fingerprint,
                "event": event,
                "actor_id": None,
                "actor": None,
                "chat_id": None,
                "detail": detail,
            }
        )

    def extend(self, other: Writes) -> None:
        """Take `other`'s writes too (one detector's, into its batch's)."""
        self.new_incidents.extend(other.new_incidents)
        for keys, params in other.incident_updates.items():
            self.incident_updates.setdefault(keys, []).extend(params)
        self.outbox_rows.extend(other.outbox_rows)
        self.events.extend(other.events)
        self.states_new.extend(other.states_new)
        self.states_changed.extend(other.states_changed)

    def save_state(self, values: dict[str, Any], exists: bool) -> None:
        (self.states_changed if exists else self.states_new).append(values)

    async def flush(self, conn: AsyncConnection) -> None:
        if self.new_incidents:
            # A bulk insert, then the ids by fingerprint: the newest row of each fingerprint created now
            # (a run fires a fingerprint at most once, inside its write transaction). RETURNING with a
            # guaranteed order would make SQLite insert row by row.
            await conn.execute(insert(alerts_history), [n.values for n in self.new_incidents])
            by_fingerprint = {n.values["fingerprint"]: n for n in self.new_incidents}
            now = self.new_incidents[0].values["created_at"]
            fingerprints = sorted(by_fingerprint)
            for start in range(0, len(fingerprints), 500):
                rows = await conn.execute(
                    select(alerts_history.c.fingerprint, func.max(alerts_history.c.id).label("id"))
                    .where(
                        alerts_history.c.fingerprint.in_(fingerprints[start : start + 500]),
                        alerts_history.c.created_at == now,
                    )
                    .group_by(alerts_history.c.fingerprint)
                )
                for row in rows:
                    by_fingerprint[row.fingerprint].id = int(row.id)
            joinings = [(n.id, n.joining) for n in self.new_incidents if n.joining is not None and n.id is not None]
            await assign(conn, joinings, now)
        for keys, params in self.incident_updates.items():
            await conn.execute(
                update(alerts_history)
                .where(alerts_history.c.id == bindparam("b__id"))
                .values({k: bindparam(f"b_{k}") for k in keys}),
                params,
            )
        for rows in (self.outbox_rows, self.events):
            for row in rows:
                if isinstance(row["incident_id"], NewIncident):
                    row["incident_id"] = row["incident_id"].id
        if self.outbox_rows:
            await conn.execute(insert(outbox), self.outbox_rows)
        if self.events:
            await conn.execute(insert(alert_events), self.events)
        for rows in (self.states_new, self.states_changed):
            for row in rows:
                if isinstance(row["incident_id"], NewIncident):
                    row["incident_id"] = row["incident_id"].id
        if self.states_new:
            await conn.execute(insert(alert_state), self.states_new)
        if self.states_changed:
            keys = [k for k in self.states_changed[0] if k != "fingerprint"]
            await conn.execute(
                update(alert_state)
                .where(alert_state.c.fingerprint == bindparam("b_fingerprint"))
                .values({k: bindparam(f"b_{k}") for k in keys}),
                [{f"b_{k}": v for k, v in row.items()} for row in self.states_changed],
            )
