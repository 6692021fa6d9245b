"""A postmortem draft in Markdown, from what the incident's timeline recorded: the facts filled in, the
judgement left as empty sections for a person to write. Nothing in it is made up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ops.config.current import CurrentConfig
from ops.config.models import SloConfig
from ops.incidents.log import IncidentLog, IncidentRecord
from ops.incidents.timeline import Entry
from ops.timeutil import Clock, format_duration, utcnow


@dataclass(frozen=True)
class Impact:
    """An SLO fed by the incident's detectors: its events while the incident was open."""

    slo: str
    objective: float  # percent
    bad: float
    total: float
    budget_consumed: float | None  # fraction of the SLO window's error budget these bad events used


class SloCounts(Protocol):
    """What the draft reads of SLOs (`ops.slo.read.SloReader`; the SLO package sits above the engine)."""

    async def counts(self, slo: SloConfig, since: datetime, until: datetime) -> tuple[float, float]: ...


class Postmortems:
    def __init__(self, log: IncidentLog, slo_reader: SloCounts, current: CurrentConfig, clock: Clock = utcnow) -> None:
        self.log = log
        self.slo_reader = slo_reader
        self.current = current
        self.clock = clock

    async def draft(self, incident_id: int, chat_id: int | None = None, sees_all: bool = True) -> str | None:
        """The Markdown draft (None: no such incident). For `chat_id`, a chat that does not see everything,
        the cards sent elsewhere say "another chat": it learns no other chat's id (people's notes stay,
        they are the incident's story, and never carry a chat id)."""
        record = await self.log.get(incident_id)
        if record is None:
            return None
        viewer = None if sees_all else chat_id
        return render(record, await self.impacts(record), self.clock(), viewer)

    async def impacts(self, record: IncidentRecord) -> list[Impact]:
        incident = record.incident
        start = incident.opened_at
        end = incident.resolved_at or self.clock()
        sources = set(incident.detectors)
        impacts = []
        for slo in self.current.config.slos:
            if slo.sli.detector in sources or f"slo:{slo.name}" in sources:
                impacts.append(await self._impact(slo, start, end))
        return impacts

    async def _impact(self, slo: SloConfig, start: datetime, end: datetime) -> Impact:
        try:
            good, total = await self.slo_reader.counts(slo, start, end)
            _, window_total = await self.slo_reader.counts(slo, end - timedelta(seconds=slo.window), end)
        except Exception:  # an event SLI's target may be down: the draft says it could not count
            return Impact(slo.name, slo.objective, float("nan"), float("nan"), None)
        bad = max(0.0, total - good)
        allowed = window_total * slo.budget
        return Impact(slo.name, slo.objective, bad, total, bad / allowed if allowed > 0 else None)


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def _after(start: datetime, moment: datetime | None) -> str:
    return f" (+{format_duration((moment - start).total_seconds())})" if moment else ""


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _chat(entry: Entry, viewer: int | None) -> str:
    """Where a card went: its chat's id, or for a viewing chat that does not see all, "the chat it was drafted for" or
    "another chat"."""
    if entry.kind != "notified" or entry.chat_id is None:
        return ""
    if viewer is None:
        return f" chat {entry.chat_id}"
    return " the chat it was drafted for" if entry.chat_id == viewer else " another chat"


def _line(entry: Entry, viewer: int | None = None) -> str:
    who = f" — {entry.actor}" if entry.actor else ""
    about = f" `{entry.detector}`" if entry.detector else ""
    chat = _chat(entry, viewer)
    detail = f": {_cell(entry.detail)}" if entry.detail else ""
    return f"- {entry.at.strftime('%H:%M:%S')} **{entry.kind.replace('_', ' ')}**{about}{chat}{who}{detail}"


def render(record: IncidentRecord, impacts: list[Impact], now: datetime, viewer: int | None = None) -> str:
    """The draft; `viewer`: the chat it is for when that chat does not see everything (None: all ids shown)."""
    incident, entries = record.incident, record.timeline
    start = incident.opened_at
    detected = min((e.at for e in entries if e.kind == "notified"), default=None)
    acked = min((e.at for e in entries if e.kind == "acknowledged"), default=None)
    resolved = incident.resolved_at
    out = [
        f"# Postmortem: incident #{incident.id} — {incident.title}",
        "",
        f"*Draft generated {_at(now)} from opsbot's timeline. Finish the sections below the line.*",
        "",
        "## Summary",
        "",
        f"- **Severity:** {incident.severity.value}",
        f"- **Status:** {incident.status.value}",
        f"- **Started:** {_at(start)}",
        f"- **Detected (first notification):** {_at(detected)}{_after(start, detected)}",
        f"- **Acknowledged:** {_at(acked)}{_after(start, acked)}",
        f"- **Resolved:** {_at(resolved)}{_after(start, resolved)}",
        f"- **Time to acknowledge:** {format_duration((acked - start).total_seconds()) if acked else '—'}",
        f"- **Time to resolve:** {format_duration((resolved - start).total_seconds()) if resolved else '—'}",
        "",
        "## Alerts involved",
        "",
        "| # | Detector | Key | Severity | Fired | Resolved | Last message |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in incident.alerts:
        out.append(
            f"| {a.id} | {_cell(a.source)} | {_cell(a.key) or '—'} | {a.severity.value} | {_at(a.opened_at)} "
            f"| {_at(a.resolved_at)} | {_cell(a.message)[:300]} |"
        )
    out += ["", "## Impact", ""]
    if not impacts:
        out.append("No SLO is fed by these detectors.")
    for impact in impacts:
        if impact.total != impact.total:  # NaN: it could not be counted
            out.append(
                f"- **{impact.slo}** (objective {impact.objective:g}%): could not be counted (its target failed)"
            )
            continue
        used = (
            f"{impact.budget_consumed:.1%} of the error budget"
            if impact.budget_consumed is not None
            else "no budget data"
        )
        out.append(
            f"- **{impact.slo}** (objective {impact.objective:g}%): {impact.bad:g} bad of {impact.total:g} events "
            f"while open — {used}"
        )
    runs = [e for e in entries if e.kind.startswith("remediation_")]
    out += ["", "## Remediation attempts", ""]
    out += [_line(e, viewer) for e in runs] or ["None."]
    notes = [e for e in entries if e.by_person]
    out += ["", "## Notes from people", ""]
    out += [_line(e, viewer) for e in notes] or ["None."]
    out += ["", "## Timeline (UTC)", ""]
    day = None
    for entry in entries:
        if entry.at.date() != day:
            day = entry.at.date()
            out += [f"**{day.isoformat()}**", ""]
        out.append(_line(entry, viewer))
    out += [
        "",
        "---",
        "",
        "## Root cause",
        "",
        "",
        "## What went well",
        "",
        "",
        "## What went wrong",
        "",
        "",
        "## Action items",
        "",
        "| Action | Owner | Due |",
        "|---|---|---|",
        "",
    ]
    return "\n".join(out)
