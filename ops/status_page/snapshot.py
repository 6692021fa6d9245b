"""What the public status page shows, read from the database in three queries: each component's state now,
its uptime per day for 90 days, and its incidents.

Only the detectors the `status_page` section lists are read, and only columns that carry nothing internal:
detector names (never shown: each is mapped to its component at once), severities, statuses, times and the
hourly rollup's counts. An alert's key, message, values and the people who acknowledged or resolved it are
never selected, so they cannot reach the page by mistake.

- State now: the highest severity among the component's detectors' open alerts (acknowledged and muted
  ones too: an acknowledged outage is still an outage). critical → outage; error or warning → degraded;
  info or none → operational.
- Uptime: per UTC day, the share of the component's detectors' checks that passed (from the hourly rollup:
  one grouped query, whatever the history); a day without checks has no figure.
- Incidents: opsbot's incidents (`ops.incidents`) that hold an alert of a listed detector, within the 90
  days. Each is shown per incident, not per alert, with the components it touched; its title is a neutral
  phrase ("Outage — Orders API", "Degraded performance — Payouts"), never the alert's text; it starts when
  the first listed detector's alert fired and ends when the last of them resolved. Info-only incidents
  are left out, as they do not change a component's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ops.config.models import StatusPageConfig
from ops.model import Severity
from ops.storage.tables import alerts_history, check_hourly

DAYS = 90
MAX_INCIDENTS = 50  # the newest shown; older ones within the 90 days are counted, not listed
STATES = ("operational", "degraded", "outage")  # best to worst
IMPACT_TITLE = {"outage": "Outage", "degraded": "Degraded performance"}
# A day's bar: at least this share of checks passing is operational, at least DEGRADED_PCT degraded.
OPERATIONAL_PCT = 99.9
DEGRADED_PCT = 95.0


def state_of(severity: Severity | None) -> str:
    """A component's state from the highest severity among its open alerts (None: no open alert)."""
    if severity is None or severity is Severity.info:
        return "operational"
    return "outage" if severity is Severity.critical else "degraded"


def day_state(pct: float | None) -> str:
    """A day's bar colour: no_data, operational, degraded or outage."""
    if pct is None:
        return "no_data"
    if pct >= OPERATIONAL_PCT:
        return "operational"
    return "degraded" if pct >= DEGRADED_PCT else "outage"


def worst(states: list[str]) -> str:
    return max(states, key=STATES.index, default="operational")


@dataclass(frozen=True)
class DayUptime:
    day: date
    good: int
    total: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.good / self.total if self.total else None

    @property
    def state(self) -> str:
        return day_state(self.pct)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # operational | degraded | outage
    days: tuple[DayUptime, ...]  # DAYS of them, oldest first, today last

    @property
    def uptime_pct(self) -> float | None:
        """Checks passing over the whole 90 days (None: none ran)."""
        total = sum(d.total for d in self.days)
        return 100.0 * sum(d.good for d in self.days) / total if total else None


@dataclass(frozen=True)
class PublicIncident:
    title: str
    impact: str  # degraded | outage
    components: tuple[str, ...]
    started_at: datetime
    ended_at: datetime | None  # None: ongoing

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class Snapshot:
    title: str
    generated_at: datetime  # naive UTC
    components: tuple[ComponentStatus, ...]
    incidents: tuple[PublicIncident, ...]  # newest first, at most MAX_INCIDENTS
    incidents_total: int  # within the 90 days, listed or not

    @property
    def state(self) -> str:
        return worst([c.state for c in self.components])

    @property
    def first_day(self) -> date:
        return self.generated_at.date() - timedelta(days=DAYS - 1)

    def as_dict(self) -> dict[str, Any]:
        """`/status.json`: the same data as the page."""
        return {
            "title": self.title,
            "state": self.state,
            "generated_at": _iso(self.generated_at),
            "days": DAYS,
            "components": [
                {
                    "name": c.name,
                    "state": c.state,
                    "uptime_pct": _round(c.uptime_pct),
                    "days": [
                        {"date": d.day.isoformat(), "uptime_pct": _round(d.pct), "state": d.state} for d in c.days
                    ],
                }
                for c in self.components
            ],
            "incidents": [
                {
                    "title": i.title,
                    "impact": i.impact,
                    "components": list(i.components),
                    "started_at": _iso(i.started_at),
                    "ended_at": _iso(i.ended_at) if i.ended_at else None,
                }
                for i in self.incidents
            ],
            "incidents_total": self.incidents_total,
        }


def _iso(ts: datetime) -> str:
    return ts.replace(microsecond=0).isoformat() + "Z"


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


_BY_RANK = {s.rank: s for s in Severity}


async def read_snapshot(db: AsyncEngine, page: StatusPageConfig, now: datetime) -> Snapshot:
    detectors = page.detectors
    first = now.date() - timedelta(days=DAYS - 1)
    since = datetime(first.year, first.month, first.day)
    rank = case({s.value: s.rank for s in Severity}, value=alerts_history.c.severity, else_=Severity.error.rank)
    is_open = alerts_history.c.status != "resolved"
    open_q = (
        select(alerts_history.c.source, func.max(rank).label("rank"))
        .where(is_open, alerts_history.c.source.in_(detectors))
        .group_by(alerts_history.c.source)
    )
    day = func.date(check_hourly.c.hour)
    uptime_q = (
        select(check_hourly.c.detector, day.label("d"), func.sum(check_hourly.c.good), func.sum(check_hourly.c.total))
        .where(check_hourly.c.detector.in_(detectors), check_hourly.c.hour >= since)
        .group_by(check_hourly.c.detector, day)
    )
    # Per incident (an alert from before incidents existed counts as its own) and listed detector: when its
    # alerts fired and resolved, whether one is open, and their highest severity.
    incident = func.coalesce(alerts_history.c.group_id, -alerts_history.c.id)
    incidents_q = (
        select(
            incident.label("incident"),
            alerts_history.c.source,
            func.min(alerts_history.c.created_at).label("started"),
            func.max(alerts_history.c.resolved_at).label("ended"),
            func.sum(case((is_open, 1), else_=0)).label("open"),
            func.max(rank).label("rank"),
        )
        .where(
            alerts_history.c.source.in_(detectors),
            or_(is_open, alerts_history.c.created_at >= since - timedelta(days=DAYS)),
        )
        .group_by(incident, alerts_history.c.source)
    )
    async with db.connect() as conn:
        open_rows = (await conn.execute(open_q)).all()
        uptime_rows = (await conn.execute(uptime_q)).all()
        incident_rows = (await conn.execute(incidents_q)).all()

    open_severity = {r.source: _BY_RANK.get(int(r.rank), Severity.error) for r in open_rows}
    counted: dict[tuple[str, str], tuple[int, int]] = {
        (r[0], str(r[1])): (int(r[2] or 0), int(r[3] or 0)) for r in uptime_rows
    }
    components = []
    for component in page.components:
        severities = [open_severity[d] for d in component.detectors if d in open_severity]
        state = state_of(max(severities, key=lambda s: s.rank) if severities else None)
        days = []
        for offset in range(DAYS):
            d = first + timedelta(days=offset)
            good = total = 0
            for detector in dict.fromkeys(component.detectors):
                g, t = counted.get((detector, str(d)), (0, 0))
                good, total = good + g, total + t
            days.append(DayUptime(d, good, total))
        components.append(ComponentStatus(component.name, state, tuple(days)))
    incidents = _incidents(page, incident_rows, since)
    return Snapshot(page.title, now, tuple(components), tuple(incidents[:MAX_INCIDENTS]), len(incidents))


def _incidents(page: StatusPageConfig, rows: list[Any], since: datetime) -> list[PublicIncident]:
    """One public incident per opsbot incident, from its rows per listed detector."""
    owners: dict[str, list[str]] = {}
    for component in page.components:
        for detector in component.detectors:
            owners.setdefault(detector, []).append(component.name)
    order = [c.name for c in page.components]
    by_incident: dict[int, list[Any]] = {}
    for row in rows:
        by_incident.setdefault(int(row.incident), []).append(row)
    found = []
    for parts in by_incident.values():
        top = max(int(p.rank) for p in parts)
        impact = state_of(_BY_RANK.get(top, Severity.error))
        if impact == "operational":
            continue  # info only: no component changed state
        ongoing = any(int(p.open or 0) for p in parts)
        ended = None if ongoing else max((p.ended for p in parts if p.ended is not None), default=None)
        started = min(p.started for p in parts)
        if ended is not None and ended < since:
            continue  # over before the 90 days
        if ended is None and not ongoing:
            ended = started  # resolved without a time (hand-edited rows): a moment
        touched = {name for p in parts for name in owners.get(p.source, [])}
        components = tuple(name for name in order if name in touched)
        title = f"{IMPACT_TITLE[impact]} — {', '.join(components)}"
        found.append(PublicIncident(title, impact, components, started, ended))
    found.sort(key=lambda i: (i.ended_at is None, i.started_at), reverse=True)
    return found
