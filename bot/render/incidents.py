"""Incidents for Telegram: /incidents, /incident's pages (head and timeline), /stats and the weekly
report's response-time section. Every value from outside is clipped and escaped, so each message's size
has a known bound whatever people wrote."""

from __future__ import annotations

from datetime import datetime

from bot.render.fit import esc, pack
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.render.texts import MAX_ANSWER_PARTS, SEVERITY_ICON, title, when
from ops.incidents.log import IncidentRecord
from ops.incidents.read import IncidentGroup
from ops.incidents.stats import ResponseTimes, Times
from ops.incidents.timeline import Entry
from ops.model import IncidentStatus
from ops.timeutil import format_duration

TITLE_UNITS = 200  # an incident's title (the core keeps 200 characters; escaped it may be longer)
ACTOR_UNITS = 64
DETECTOR_UNITS = 64
DETAIL_UNITS = 700  # of one timeline entry: a page holds at least four whole entries
HEAD_ALERTS = 5  # alerts listed on the first page; the rest are counted
PAGE_FOOTER_UNITS = 64  # "page 12 of 345" and the line before it
REPORT_DETECTORS = 15  # detectors listed in the weekly report; /stats lists more

KIND_ICON = {
    "joined": "🔗",
    "fired": "🔥",
    "reopened": "🔁",
    "notified": "📨",
    "reminded": "⏰",
    "escalated": "⏫",
    "escalate_now": "🙋",
    "acknowledged": "👀",
    "unacknowledged": "↩️",
    "silenced": "🔕",
    "unsilenced": "🔔",
    "checked": "🔁",
    "resolved": "✅",
    "note": "📝",
    "message": "💬",
}


def _state(group: IncidentGroup, now: datetime) -> str:
    if group.status is IncidentStatus.resolved:
        took = format_duration(((group.resolved_at or now) - group.opened_at).total_seconds())
        return f"✅ resolved after {took}"
    if group.acknowledged_by:
        return f"👀 acked by {esc(group.acknowledged_by, ACTOR_UNITS)}"
    return "🔥 not acknowledged"


def _alerts(n: int) -> str:
    return f"{n:,} alert{'s' if n != 1 else ''}"


def incidents_parts(groups: list[IncidentGroup], now: datetime, max_parts: int = MAX_ANSWER_PARTS) -> list[str]:
    """/incidents: the open incidents given (newest first), in at most `max_parts` messages."""
    if not groups:
        return ["🚨 <b>Incidents</b>: none open."]
    head = [f"🚨 <b>Open incidents</b> · {len(groups):,}, newest first", ""]
    blocks = [
        [
            f"{SEVERITY_ICON[g.severity]} <b>#{g.id}</b> · {esc(g.title, 120)} · open "
            f"{format_duration((now - g.opened_at).total_seconds())} · {_state(g, now)} · {_alerts(len(g.alerts))}"
        ]
        for g in groups
    ]

    def footer(left_out: int) -> list[str]:
        more = [f"…and {left_out:,} more open incidents"] if left_out else []
        return ["", *more, "<i>/incident &lt;id&gt; shows one with its timeline</i>"]

    parts, _ = pack(blocks, head=head, footer=footer, max_parts=max_parts)
    return parts


def _head(record: IncidentRecord, now: datetime) -> list[str]:
    """The first page's head: at most about 1,700 units (a title, five alerts, a few short lines)."""
    g = record.incident
    lines = [
        f"{SEVERITY_ICON[g.severity]} <b>Incident #{g.id}</b> · {esc(g.title, TITLE_UNITS)}",
        f"Severity: <b>{g.severity.value.upper()}</b> · status: <b>{g.status.value}</b>",
        f"Opened: {when(g.opened_at, now)} ({format_duration((now - g.opened_at).total_seconds())} ago)",
    ]
    if g.acknowledged_at is not None:
        lines.append(f"Acknowledged by {esc(g.acknowledged_by or '?', ACTOR_UNITS)} at {when(g.acknowledged_at, now)}")
    elif g.is_open:
        lines.append("Not acknowledged")
    if g.resolved_at is not None:
        took = format_duration((g.resolved_at - g.opened_at).total_seconds())
        lines.append(f"Resolved: {when(g.resolved_at, now)}, after {took}")
    lines.append(f"<b>Alerts</b> · {len(g.alerts):,}")
    for a in g.alerts[:HEAD_ALERTS]:
        lines.append(f"   {SEVERITY_ICON[a.severity]} {a.id} · {esc(title(a), 150)} · {a.status.value}")
    if len(g.alerts) > HEAD_ALERTS:
        lines.append(f"   …and {len(g.alerts) - HEAD_ALERTS:,} more")
    lines += ["", "<b>Timeline</b> (UTC)"]
    return lines


def _where(entry: Entry, chat_id: int, sees_all: bool) -> str:
    """Which chat a card went to: a chat that does not see everything learns no other chat's id."""
    if entry.kind != "notified" or entry.chat_id is None:
        return ""
    if entry.chat_id == chat_id:
        return " here"
    return f" to chat {entry.chat_id}" if sees_all else " to another chat"


def entry_line(entry: Entry, chat_id: int, sees_all: bool) -> str:
    """One timeline entry, at most about 950 units: people's words shown with their author."""
    icon = KIND_ICON.get(entry.kind, "🛠" if entry.kind.startswith("remediation") else "•")
    kind = esc(entry.kind.replace("_", " "), 40)
    about = f" · <code>{esc(entry.detector, DETECTOR_UNITS)}</code>" if entry.detector else ""
    where = _where(entry, chat_id, sees_all)
    if entry.by_person:
        who = esc(entry.actor or "someone", ACTOR_UNITS)
        return f"{entry.at:%H:%M:%S} {icon} <b>{who}</b> ({kind}): {esc(entry.detail, DETAIL_UNITS)}"
    who = f" — {esc(entry.actor, ACTOR_UNITS)}" if entry.actor else ""
    detail = f": {esc(entry.detail, DETAIL_UNITS)}" if entry.detail else ""
    return f"{entry.at:%H:%M:%S} {icon} {kind}{about}{where}{who}{detail}"


def incident_pages(
    record: IncidentRecord, now: datetime, chat_id: int, sees_all: bool, limit: int = TELEGRAM_LIMIT
) -> list[str]:
    """/incident's pages, each at most `limit` units with its "page k of n" line: the head on the first,
    the timeline's entries whole and in order, a date line where the day changes and atop every page."""
    room = limit - PAGE_FOOTER_UNITS
    pages: list[list[str]] = [_head(record, now)]
    sizes = [u16("\n".join(pages[0]))]
    day = None
    if not record.timeline:
        pages[0].append("Nothing recorded yet.")
    for entry in record.timeline:
        line = entry_line(entry, chat_id, sees_all)
        dated = entry.at.date() != day
        day = entry.at.date()
        date_line = f"<b>{day.isoformat()}</b>"
        extra = u16(line) + 1 + (u16(date_line) + 1 if dated else 0)
        if sizes[-1] + extra > room:
            g = record.incident
            pages.append([f"<b>Incident #{g.id}</b> · {esc(g.title, 100)} · timeline (UTC)", "", date_line])
            sizes.append(u16("\n".join(pages[-1])))
        elif dated:
            pages[-1].append(date_line)
            sizes[-1] += u16(date_line) + 1
        pages[-1].append(line)
        sizes[-1] += u16(line) + 1
    if len(pages) == 1:
        return ["\n".join(pages[0])]
    return ["\n".join([*p, "", f"<i>page {n} of {len(pages)}</i>"]) for n, p in enumerate(pages, start=1)]


def _duration(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def times_line(label: str, times: Times, unit: str) -> str:
    """`label: 3 incidents · MTTA 2m (2 acked) · MTTR 1h 5m (1 resolved)`; `label` is HTML already."""
    plural = unit if times.count == 1 else unit + "s"
    return (
        f"{label}: {times.count:,} {plural} · MTTA {_duration(times.mtta)} ({len(times.to_ack):,} acked) "
        f"· MTTR {_duration(times.mttr)} ({len(times.to_resolve):,} resolved)"
    )


def _by_activity(times: ResponseTimes) -> list[tuple[str, Times]]:
    return sorted(times.detectors.items(), key=lambda item: (-item[1].count, item[0]))


def stats_parts(times: ResponseTimes, days: int, max_parts: int = MAX_ANSWER_PARTS) -> list[str]:
    """/stats: overall (incidents) and per detector (alerts), the busiest detectors first."""
    head = [
        f"⏱ <b>Response times</b> · last {days} day{'s' if days != 1 else ''} (since {times.since:%Y-%m-%d %H:%M} UTC)",
        "",
        times_line("<b>Overall</b>", times.overall, "incident"),
        "",
        "<b>Per detector</b>" if times.detectors else "No alerts in this span.",
    ]
    blocks = [[times_line(f"• {esc(name, DETECTOR_UNITS)}", t, "alert")] for name, t in _by_activity(times)]

    def footer(left_out: int) -> list[str]:
        return ["", f"…and {left_out:,} more detectors"] if left_out else []

    parts, _ = pack(blocks, head=head, footer=footer, max_parts=max_parts)
    return parts


def response_times_section(times: ResponseTimes) -> str:
    """The weekly report's section: at most REPORT_DETECTORS detectors (about 3,500 units)."""
    lines = [
        f"⏱ <b>Response times</b> · {times.since:%Y-%m-%d} to {times.until:%Y-%m-%d}",
        times_line("<b>Overall</b>", times.overall, "incident"),
    ]
    ranked = _by_activity(times)
    lines += [times_line(f"• {esc(name, DETECTOR_UNITS)}", t, "alert") for name, t in ranked[:REPORT_DETECTORS]]
    if len(ranked) > REPORT_DETECTORS:
        lines.append(f"…and {len(ranked) - REPORT_DETECTORS:,} more detectors — /stats")
    return "\n".join(lines)


def postmortem_caption(group_id: int, group_title: str) -> str:
    return f"📝 Postmortem draft · incident #{group_id} · {esc(group_title, 200)} — finish the sections below the line"
