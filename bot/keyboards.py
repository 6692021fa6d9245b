"""Inline keyboards for alert cards and paged lists."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertAction, AlertCb, AlertsPageCb
from ops.model import Incident, IncidentStatus

ACK = "✅ Ack"
UNACK = "↩️ Unack"
RUNBOOK = "📖 Runbook"
CHECK = "🔁 Check now"


def alert_keyboard(incident: Incident) -> InlineKeyboardMarkup | None:
    """Firing: Ack; acknowledged: Unack; resolved: no buttons at all."""
    if incident.status is IncidentStatus.resolved:
        return None

    def button(label: str, action: AlertAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=label, callback_data=AlertCb(action=action, incident_id=incident.id).pack())

    first = (
        button(ACK, AlertAction.ack) if incident.status is IncidentStatus.firing else button(UNACK, AlertAction.unack)
    )
    rows = [[first, button(CHECK, AlertAction.check)]]
    if incident.extras.get("runbook"):
        rows.append([button(RUNBOOK, AlertAction.runbook)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def pager(severity: str, offset: int, size: int, total: int) -> InlineKeyboardMarkup | None:
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton(
                text="◀ Newer",
                callback_data=AlertsPageCb(severity=severity, offset=max(0, offset - size), size=size).pack(),
            )
        )
    if offset + size < total:
        buttons.append(
            InlineKeyboardButton(
                text="Older ▶",
                callback_data=AlertsPageCb(severity=severity, offset=offset + size, size=size).pack(),
            )
        )
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None
