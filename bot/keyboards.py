"""Inline keyboards for alert cards and paged lists."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import (
    AlertAction,
    AlertCb,
    AlertsPageCb,
    ConfirmAnswer,
    ConfirmCb,
    DigestAction,
    DigestCb,
    EscalateCb,
    RemediateCb,
    RemediateStep,
    SilenceCb,
)
from ops.model import Incident, IncidentStatus, MuteKind

ACK = "✅ Ack"
UNACK = "↩️ Unack"
RUNBOOK = "📖 Runbook"
CHECK = "🔁 Check now"
REMEDIATE = "🛠 Remediate"
SILENCE_1H = "🔕 Silence 1h"
SILENCE_RESOLVED = "🔕 Until resolved"
YES = "✅ Yes"
CANCEL = "✖ Cancel"
ESCALATE_NOW = "🙋 Escalate now"


# The incident whose personal page (an on-call person's private copy of its card) is being drawn now.
def alert_keyboard(incident: Incident, *, page: bool = False) -> InlineKeyboardMarkup | None:
    """Firing: Ack; acknowledged: Unack; resolved: no buttons at all. A personal page (`page`) of a firing
    alert also has 🙋 Escalate now."""
    if incident.status is IncidentStatus.resolved:
        return None

    def button(label: str, action: AlertAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=label, callback_data=AlertCb(action=action, incident_id=incident.id).pack())

    first = (
        button(ACK, AlertAction.ack) if incident.status is IncidentStatus.firing else button(UNACK, AlertAction.unack)
    )
    rows = [[first, button(CHECK, AlertAction.check)]]
    if page and incident.status is IncidentStatus.firing:
        rows.append([InlineKeyboardButton(text=ESCALATE_NOW, callback_data=EscalateCb(incident_id=incident.id).pack())])
    second = []
    if incident.extras.get("remediation"):
        second.append(
            InlineKeyboardButton(
                text=REMEDIATE, callback_data=RemediateCb(step=RemediateStep.ask, incident_id=incident.id).pack()
            )
        )
    if incident.extras.get("runbook"):
        second.append(button(RUNBOOK, AlertAction.runbook))
    if second:
        rows.append(second)
    if incident.muted is None or incident.muted.kind is not MuteKind.silenced:
        rows.append(
            [
                InlineKeyboardButton(
                    text=SILENCE_1H, callback_data=SilenceCb(mode="1h", incident_id=incident.id).pack()
                ),
                InlineKeyboardButton(
                    text=SILENCE_RESOLVED, callback_data=SilenceCb(mode="res", incident_id=incident.id).pack()
                ),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_keyboard(token: str) -> InlineKeyboardMarkup:
    """✅ Yes / ✖ Cancel carrying the question's single-use token."""

    def answer(label: str, which: ConfirmAnswer) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=label, callback_data=ConfirmCb(answer=which, token=token).pack())

    return InlineKeyboardMarkup(inline_keyboard=[[answer(YES, ConfirmAnswer.yes), answer(CANCEL, ConfirmAnswer.no)]])


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


ACK_ALL = "✅ Ack all"
DETAILS = "📋 Details"
SUMMARY = "↩ Summary"


def digest_keyboard(digest_id: int, incidents: list[Incident], page: int, pages: int) -> InlineKeyboardMarkup:
    """Summary (page 0): Ack all + Details. A details page: Ack per firing alert, ◀ ▶, back to the summary."""

    def view(label: str, to: int) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=label, callback_data=DigestCb(action=DigestAction.view, digest_id=digest_id, page=to).pack()
        )

    if page == 0:
        first = []
        if any(i.status is IncidentStatus.firing for i in incidents):
            first.append(
                InlineKeyboardButton(
                    text=ACK_ALL, callback_data=DigestCb(action=DigestAction.ack_all, digest_id=digest_id).pack()
                )
            )
        return InlineKeyboardMarkup(inline_keyboard=[[*first, view(DETAILS, 1)]])
    rows = [
        [
            InlineKeyboardButton(
                text=f"{ACK} #{i.short_fingerprint}",
                callback_data=AlertCb(action=AlertAction.ack, incident_id=i.id).pack(),
            )
        ]
        for i in incidents
        if i.status is IncidentStatus.firing
    ]
    nav = []
    if page > 1:
        nav.append(view("◀", page - 1))
    nav.append(view(SUMMARY, 0))
    if page < pages:
        nav.append(view("▶", page + 1))
    rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)
