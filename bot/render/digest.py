"""Storm digests: a summary (counts by severity, one line per alert) and pages of details."""

from __future__ import annotations

from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.keyboards import digest_keyboard
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.render.texts import SEVERITY_ICON, card_head, hhmm
from ops.model import IncidentStatus, Severity
from ops.storage.digests import DigestEntry
from ops.timeutil import format_duration

PAGE_SIZE = 5
MAX_ENTRIES = 30  # lines in one digest; a storm bigger than this goes out as several digests
_LINE_PART = 40  # characters of a detector name or key in one summary line
_SECTIONS = {
    "alert": "🚨 New",
    "escalated": "⏫ Unacknowledged, escalated",
    "reminder": "⏰ Still firing, not acknowledged",
    "raised": "⬆️ Severity raised",
    "flapping": "〰️ Flapping",
    "note": "📣 Updates",
    "resolved": "✅ Resolved",
}
_STATUS_MARK = {IncidentStatus.firing: "", IncidentStatus.acknowledged: " 👀", IncidentStatus.resolved: " ✅"}


def section_of(entry: DigestEntry) -> str:
    if entry.kind == "alert" and entry.payload.get("escalated"):
        return "escalated"
    return entry.kind if entry.kind in _SECTIONS else "note"


def _short(text: str) -> str:
    return text if len(text) <= _LINE_PART else text[: _LINE_PART - 1] + "…"


def digest_line(entry: DigestEntry) -> str:
    incident = entry.incident
    key = f" · {escape(_short(incident.key))}" if incident.key else ""
    return (
        f"{SEVERITY_ICON[incident.severity]} {incident.severity.value} · {escape(_short(incident.source))}{key} "
        f"· <code>#{incident.short_fingerprint}</code>{_STATUS_MARK[incident.status]}"
    )


def digest_summary(entries: list[DigestEntry]) -> str:
    counts = {s: 0 for s in reversed(Severity)}
    for entry in entries:
        counts[entry.incident.severity] += 1
    by_severity = " · ".join(f"{SEVERITY_ICON[s]} {n} {s.value}" for s, n in counts.items() if n)
    lines = [f"🌩 <b>{len(entries)} alerts at once</b> · {by_severity}"]
    for section, label in _SECTIONS.items():
        mine = [e for e in entries if section_of(e) == section]
        if mine:
            lines += ["", f"<b>{label} ({len(mine)})</b>"]
            lines += [digest_line(e) for e in mine]
    lines += ["", "<i>Each one can still be acked alone: /ack #fingerprint, /alerts, or 📋 Details.</i>"]
    return _fit("\n".join(lines))


def page_count(entries: list[DigestEntry]) -> int:
    return max(1, -(-len(entries) // PAGE_SIZE))


def digest_page(entries: list[DigestEntry], page: int) -> str:
    """Details page `page` (1-based): each alert's card head, message and state."""
    pages = page_count(entries)
    page = min(max(page, 1), pages)
    chunk = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    lines = [f"📋 <b>Details {page}/{pages}</b> · {len(entries)} alerts"]
    for entry in chunk:
        incident = entry.incident
        message = incident.message if len(incident.message) <= 300 else incident.message[:299] + "…"
        state = ""
        if incident.status is IncidentStatus.acknowledged:
            state = f" · 👀 acked by {escape(incident.acknowledged_by or '?')}"
        elif incident.status is IncidentStatus.resolved and incident.resolved_at:
            took = format_duration((incident.resolved_at - incident.opened_at).total_seconds())
            state = f" · resolved after {took}"
        lines += [
            "",
            card_head(incident) + (f" · {escape(_short(incident.key))}" if incident.key else ""),
            escape(message),
            f"<code>#{incident.short_fingerprint}</code> · incident {incident.id} · since "
            f"{hhmm(incident.opened_at)}{state}",
        ]
    return _fit("\n".join(lines))


def _fit(text: str) -> str:
    """A digest is one message: never over Telegram's limit (lines are short, so this is a guard)."""
    if u16(text) <= TELEGRAM_LIMIT:
        return text
    cut = text.rfind("\n", 0, 3900)
    return text[:cut] + "\n…"


def digest_view(digest_id: int, entries: list[DigestEntry], page: int) -> tuple[str, InlineKeyboardMarkup]:
    """The digest message as it should look now: the summary (page 0) or a details page."""
    pages = page_count(entries)
    page = min(max(page, 0), pages)
    if page == 0:
        return digest_summary(entries), digest_keyboard(digest_id, [e.incident for e in entries], 0, pages)
    chunk = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return digest_page(entries, page), digest_keyboard(digest_id, [e.incident for e in chunk], page, pages)
