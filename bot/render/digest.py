"""Storm digests: a summary (counts by severity, one line per alert) and pages of details."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from bot.keyboards import digest_keyboard
from bot.render.fit import esc
from bot.render.notifications import SECTIONS, digest_section
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.render.texts import SEVERITY_ICON, alert_ref, card_head, hhmm
from ops.model import IncidentStatus, Severity
from ops.storage.digests import DigestEntry
from ops.timeutil import format_duration

PAGE_SIZE = 5
MAX_ENTRIES = 30  # lines in one digest; a storm bigger than this goes out as several digests
# UTF-16 units of a detector name or key in one summary line, tried in turn until the digest fits:
# 30 lines of the first fit 4096 units with room to spare, whatever the characters.
_LINE_PARTS = (40, 24, 12)
_STATUS_MARK = {IncidentStatus.firing: "", IncidentStatus.acknowledged: " 👀", IncidentStatus.resolved: " ✅"}


def section_of(entry: DigestEntry) -> str:
    return digest_section(entry.notification)


def digest_line(entry: DigestEntry, part: int = _LINE_PARTS[0]) -> str:
    incident = entry.incident
    key = f" · {esc(incident.key, part)}" if incident.key else ""
    return (
        f"{SEVERITY_ICON[incident.severity]} {incident.severity.value} · {esc(incident.source, part)}{key} "
        f"· <code>#{incident.short_fingerprint}</code>{_STATUS_MARK[incident.status]}"
    )


def digest_summary(entries: list[DigestEntry], limit: int = TELEGRAM_LIMIT) -> str:
    counts = {s: 0 for s in reversed(Severity)}
    for entry in entries:
        counts[entry.incident.severity] += 1
    by_severity = " · ".join(f"{SEVERITY_ICON[s]} {n} {s.value}" for s, n in counts.items() if n)
    text = ""
    for part in _LINE_PARTS:
        lines = [f"🌩 <b>{len(entries)} alerts at once</b> · {by_severity}"]
        for section in SECTIONS:
            mine = [e for e in entries if section_of(e) == section]
            if mine:
                lines += ["", f"<b>{section} ({len(mine)})</b>"]
                lines += [digest_line(e, part) for e in mine]
        lines += ["", "<i>Each one can still be acked alone: /ack #fingerprint, /alerts, or 📋 Details.</i>"]
        text = "\n".join(lines)
        if u16(text) <= limit:
            return text
    return _fit(text, limit)


def page_count(entries: list[DigestEntry]) -> int:
    return max(1, -(-len(entries) // PAGE_SIZE))


def digest_page(entries: list[DigestEntry], page: int, limit: int = TELEGRAM_LIMIT) -> str:
    """Details page `page` (1-based): each alert's card head, message and state (at most ~700 units each)."""
    pages = page_count(entries)
    page = min(max(page, 1), pages)
    chunk = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    lines = [f"📋 <b>Details {page}/{pages}</b> · {len(entries)} alerts"]
    for entry in chunk:
        incident = entry.incident
        state = ""
        if incident.status is IncidentStatus.acknowledged:
            state = f" · 👀 acked by {esc(incident.acknowledged_by or '?', 64)}"
        elif incident.status is IncidentStatus.resolved and incident.resolved_at:
            took = format_duration((incident.resolved_at - incident.opened_at).total_seconds())
            state = f" · resolved after {took}"
        lines += [
            "",
            card_head(incident) + (f" · {esc(incident.key, _LINE_PARTS[0])}" if incident.key else ""),
            esc(incident.message, min(300, limit // (2 * PAGE_SIZE))),
            f"<code>#{incident.short_fingerprint}</code> · {alert_ref(incident)} · since "
            f"{hhmm(incident.opened_at)}{state}",
        ]
    return _fit("\n".join(lines), limit)


def _fit(text: str, limit: int) -> str:
    """A digest is one message: never over `limit` (its lines are bounded, so this is a last guard that
    drops whole lines from the end, counting UTF-16 units)."""
    lines = text.split("\n")
    while len(lines) > 1 and u16("\n".join(lines)) + 2 > limit:
        lines.pop()
    return "\n".join([*lines, "…"]) if u16(text) > limit else text


def digest_view(
    digest_id: int, entries: list[DigestEntry], page: int, limit: int = TELEGRAM_LIMIT
) -> tuple[str, InlineKeyboardMarkup]:
    """The digest message as it should look now: the summary (page 0) or a details page, at most `limit`
    UTF-16 units (smaller when Telegram said "too long")."""
    pages = page_count(entries)
    page = min(max(page, 0), pages)
    if page == 0:
        return digest_summary(entries, limit), digest_keyboard(digest_id, [e.incident for e in entries], 0, pages)
    chunk = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return digest_page(entries, page, limit), digest_keyboard(digest_id, [e.incident for e in chunk], page, pages)
