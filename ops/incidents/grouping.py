"""Which incident a new alert joins, decided when it fires (inside the engine's write transaction, so two
replicas never open two incidents for one group).

- A child whose `depends_on` parent has an open alert joins the parent's incident.
- Otherwise an alert of a route with `group_by` joins the newest open incident of the same group (the
  same values of those fields) opened within `group_window`; else it opens one.
- Without `group_by` each alert is its own incident.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.storage.tables import alert_events, alert_state, alerts_history, incidents

TITLE_LIMIT = 200


@dataclass(frozen=True)
class Joining:
    """How one new alert finds its incident."""

    detector: str
    fingerprint: str
    title: str  # the incident's title if this alert opens it
    group_key: str  # alerts with the same key (within `window`) share an incident
    window: float  # seconds
    parents: tuple[str, ...] = ()  # detectors it `depends_on`

    @classmethod
    def of(
        cls,
        detector: str,
        fingerprint: str,
        key: str,
        fields: dict[str, str],
        group_by: list[str],
        window: float,
        parents: list[str],
        route: str = "",
    ) -> Joining:
        """`route` names the route whose `group_by` applies: alerts of different routes (and so, usually,
        different chats) never share an incident."""
        title = f"{detector} · {key}" if key else detector
        if group_by:
            values = json.dumps([[name, fields.get(name, "")] for name in group_by], ensure_ascii=False)
            # Hashed, so that long label values cannot make two groups' keys alike when cut to the column.
            group_key = f"by:{route}:" + hashlib.sha256(values.encode()).hexdigest()
        else:
            group_key = f"alert:{fingerprint}"
        return cls(detector, fingerprint, title[:TITLE_LIMIT], group_key[:400], window, tuple(parents))


async def assign(conn: AsyncConnection, alerts: list[tuple[int, Joining]], now: datetime) -> dict[int, int]:
    """Put each new alert (id, how it joins) into an incident; returns alert id → incident id. Writes the
    `joined` entry of each alert's timeline."""
    if not alerts:
        return {}
    placed: dict[int, int] = {}
    detail: dict[int, str] = {}
    parents = {p for _, j in alerts for p in j.parents}
    parent_groups = await _open_groups_of(conn, parents) if parents else {}
    groups = await _open_groups(conn, {j.group_key for _, j in alerts}, now, max(j.window for _, j in alerts))
    # Parents before children: a child fired in the same run as its parent (or grandparent) finds the
    # incident its parent just joined or opened.
    for phase in _by_depth(alerts):
        new_keys: dict[str, Joining] = {}
        waiting: list[tuple[int, Joining]] = []
        for alert_id, joining in phase:
            parent = next((p for p in joining.parents if p in parent_groups), None)
            found = groups.get(joining.group_key)
            if parent is not None:
                placed[alert_id], detail[alert_id] = parent_groups[parent], f"its parent {parent} is firing"
            elif found is not None and now - found[1] <= timedelta(seconds=joining.window):
                placed[alert_id], detail[alert_id] = found[0], "grouped"
            else:
                new_keys.setdefault(joining.group_key, joining)
                waiting.append((alert_id, joining))
        if new_keys:
            opened = await _open(conn, list(new_keys.values()), now)
            for alert_id, joining in waiting:
                placed[alert_id] = opened[joining.group_key]
                groups[joining.group_key] = (opened[joining.group_key], now)
                opener = new_keys[joining.group_key].fingerprint == joining.fingerprint
                detail[alert_id] = "opened the incident" if opener else "grouped"
        for alert_id, joining in phase:
            parent_groups.setdefault(joining.detector, placed[alert_id])
    await conn.execute(
        update(alerts_history).where(alerts_history.c.id == bindparam("b_id")).values(group_id=bindparam("b_group")),
        [{"b_id": alert_id, "b_group": group} for alert_id, group in placed.items()],
    )
    fingerprints = {alert_id: joining.fingerprint for alert_id, joining in alerts}
    await conn.execute(
        insert(alert_events),
        [
            {
                "ts": now,
                "incident_id": alert_id,
                "fingerprint": fingerprints[alert_id],
                "event": "joined",
                "actor_id": None,
                "actor": None,
                "chat_id": None,
                "detail": detail[alert_id],
                "group_id": group,
            }
            for alert_id, group in placed.items()
        ],
    )
    return placed


def _by_depth(alerts: list[tuple[int, Joining]]) -> list[list[tuple[int, Joining]]]:
    """The alerts in phases: those whose parents did not fire in this run, then their children, then
    theirs (a `depends_on` cycle, which the config refuses, would end in the last phase)."""
    firing = {j.detector for _, j in alerts}
    depth: dict[str, int] = {}

    def of(detector: str, seen: frozenset[str]) -> int:
        if detector not in depth:
            parents = [p for p in next((j.parents for _, j in alerts if j.detector == detector), ()) if p in firing]
            depth[detector] = 1 + max((of(p, seen | {detector}) for p in parents if p not in seen), default=-1)
        return depth[detector]

    phases: dict[int, list[tuple[int, Joining]]] = {}
    for item in alerts:
        phases.setdefault(of(item[1].detector, frozenset()), []).append(item)
    return [phases[d] for d in sorted(phases)]


def _open_alert() -> object:
    return exists().where(alerts_history.c.group_id == incidents.c.id, alerts_history.c.status != "resolved")


async def _open_groups(
    conn: AsyncConnection, keys: set[str], now: datetime, window: float
) -> dict[str, tuple[int, datetime]]:
    """The newest open incident of each key opened within the widest window: key → (id, opened_at)."""
    found: dict[str, tuple[int, datetime]] = {}
    wanted = sorted(k for k in keys if k.startswith("by:"))
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(incidents.c.id, incidents.c.group_key, incidents.c.opened_at)
            .where(
                incidents.c.group_key.in_(wanted[start : start + 500]),
                incidents.c.opened_at >= now - timedelta(seconds=window),
                _open_alert(),  # type: ignore[arg-type]
            )
            .order_by(incidents.c.id)
        )
        for row in rows:
            found[row.group_key] = (row.id, row.opened_at)
    return found


async def _open_groups_of(conn: AsyncConnection, detectors: set[str]) -> dict[str, int]:
    """Each of these detectors' open alert's incident (the oldest, when it has several keys firing)."""
    rows = await conn.execute(
        select(alert_state.c.detector, func.min(alerts_history.c.group_id).label("group_id"))
        .join(alerts_history, and_(alerts_history.c.id == alert_state.c.incident_id))
        .where(alert_state.c.detector.in_(sorted(detectors)), alerts_history.c.group_id.is_not(None))
        .group_by(alert_state.c.detector)
    )
    return {row.detector: int(row.group_id) for row in rows}


async def _open(conn: AsyncConnection, joinings: list[Joining], now: datetime) -> dict[str, int]:
    """Open one incident per key: a bulk insert, then the ids by key (the newest row of each)."""
    await conn.execute(
        insert(incidents), [{"opened_at": now, "group_key": j.group_key, "title": j.title} for j in joinings]
    )
    keys = [j.group_key for j in joinings]
    opened: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        rows = await conn.execute(
            select(incidents.c.group_key, func.max(incidents.c.id).label("id"))
            .where(incidents.c.group_key.in_(keys[start : start + 500]), incidents.c.opened_at == now)
            .group_by(incidents.c.group_key)
        )
        opened.update({row.group_key: int(row.id) for row in rows})
    return opened
