"""Digests: a summary and pages of details. A storm's summary counts by severity and lists one line per
alert, by why it is there; the morning digest of quiet hours (`overnight_summary`) says what is still
open, with each card's key facts, and what resolved in the night."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from bot.keyboards import digest_keyboard
from bot.render.fit import esc
from bot.render.notifications import SECTIONS, digest_section
from bot.render.split import TELEGRAM_LIMIT, u16
from bot.render.texts import SEVERITY_ICON, alert_ref, card_head, hhmm
from ops.model import IncidentStatus, Severity
from ops.storage.digests import OVERNIGHT, STORM, DigestEntry
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


_PLURAL = {Severity.info: "info", Severity.warning: "warnings", Severity.error: "errors", Severity.critical: "critical"}
_MESSAGE_UNITS = (160, 0)  # the alert's message under its line, then none, until the summary fits


def overnight_title(entries: list[DigestEntry]) -> str:
    """`🌅 Overnight: 7 warnings, 2 resolved`: the alerts still open by severity, and those resolved."""
    counts = {s: 0 for s in reversed(Severity)}
    resolved = 0
    for entry in entries:
        if entry.incident.status is IncidentStatus.resolved:
            resolved += 1
        else:
            counts[entry.incident.severity] += 1
    parts = [f"{n} {s.value if n == 1 else _PLURAL[s]}" for s, n in counts.items() if n]
    if resolved:
        parts.append(f"{resolved} resolved")
    return f"🌅 Overnight: {', '.join(parts)}"


def _open_item(entry: DigestEntry, part: int, message: int) -> str:
    """A still-open alert with its card's key facts: severity and detector, key, since, its state."""
    incident = entry.incident
    key = f" · {esc(incident.key, part)}" if incident.key else ""
    state = ""
    if incident.status is IncidentStatus.acknowledged:
        state = f" · 👀 {esc(incident.acknowledged_by or '?', 32)}"
    since = f"since {hhmm(incident.opened_at)}"
    line = f"{card_head(incident)}{key} · <code>#{incident.short_fingerprint}</code> · {since}{state}"
    return f"{line}\n{esc(incident.message, message)}" if message and incident.message else line


def _resolved_item(entry: DigestEntry, part: int) -> str:
    incident = entry.incident
    key = f" · {esc(incident.key, part)}" if incident.key else ""
    took = ""
    if incident.resolved_at:
        took = f" · after {format_duration((incident.resolved_at - incident.opened_at).total_seconds())}"
    return (
        f"✅ {incident.severity.value} · {esc(incident.source, part)}{key} "
        f"· <code>#{incident.short_fingerprint}</code>{took}"
    )


def overnight_summary(entries: list[DigestEntry], limit: int = TELEGRAM_LIMIT) -> str:
    """What quiet hours held, in one message of at most `limit` UTF-16 units: the alerts still open first
    (they may need someone), then the resolved ones. Shorter lines are tried first; what still does not
    fit ends in "…and N more" (📋 Details lists every one)."""
    still = [e for e in entries if e.incident.status is not IncidentStatus.resolved]
    done = [e for e in entries if e.incident.status is IncidentStatus.resolved]
    head = [f"<b>{esc(overnight_title(entries), 512)}</b>"]
    foot = ["", "<i>Still firing? ✅ Ack all here, one by one in 📋 Details, or /ack #fingerprint.</i>"]
    blocks: list[tuple[str, list[str]]] = []
    for part in _LINE_PARTS:
        for message in _MESSAGE_UNITS:
            blocks = [
                (f"<b>🔔 Still open ({len(still)})</b>", [_open_item(e, part, message) for e in still]),
                (f"<b>✅ Resolved overnight ({len(done)})</b>", [_resolved_item(e, part) for e in done]),
            ]
            lines = [*head]
            for title_line, items in blocks:
                if items:
                    lines += ["", title_line, *items]
            text = "\n".join([*lines, *foot])
            if u16(text) <= limit:
                return text
    return _first_fitting(head, blocks, foot, limit)


def _first_fitting(head: list[str], blocks: list[tuple[str, list[str]]], foot: list[str], limit: int) -> str:
    """As many items as fit, in order, then "…and N more" (a block cut short ends the list)."""
    total = sum(len(items) for _, items in blocks)
    reserve = u16(f"\n…and {total} more") + u16("\n".join(["", *foot]))

    def fits(*more: str) -> bool:
        return u16("\n".join([*lines, *more])) + reserve <= limit

    lines, shown = [*head], 0
    for title_line, items in blocks:
        if not items:
            continue
        if not fits("", title_line):
            break
        lines += ["", title_line]
        for item in items:
            if not fits(item):
                break
            lines.append(item)
            shown += 1
        else:
            continue
        break
    if shown < total:
        lines.append(f"…and {total - shown} more")
    return "\n".join([*lines, *foot])


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
    digest_id: int, entries: list[DigestEntry], page: int, limit: int = TELEGRAM_LIMIT, kind: str = STORM
) -> tuple[str, InlineKeyboardMarkup]:
    """The digest message as it should look now: the summary (page 0) or a details page, at most `limit`
    UTF-16 units (smaller when Telegram said "too long"). `kind`: a storm's or the overnight summary."""
    pages = page_count(entries)
    page = min(max(page, 0), pages)
    if page == 0:
        summary = overnight_summary(entries, limit) if kind == OVERNIGHT else digest_summary(entries, limit)
        return summary, digest_keyboard(digest_id, [e.incident for e in entries], 0, pages)
    chunk = entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return digest_page(entries, page, limit), digest_keyboard(digest_id, [e.incident for e in chunk], page, pages)
