"""Button payloads: versioned CallbackData factories, each well under Telegram's 64 bytes."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

# A row id or count as the database stores it (PostgreSQL's integer): a forged bigger number is not a
# button of ours, and never reaches a query.
RowId = Annotated[int, Field(ge=0, le=2**31 - 1)]


class AlertAction(str, Enum):
    ack = "ack"
    unack = "unack"
    runbook = "rb"
    check = "chk"


class AlertCb(CallbackData, prefix="a1"):
    """A press on an alert's button; refers to the incident by id, nothing else."""

    action: AlertAction
    incident_id: RowId


class EscalateCb(CallbackData, prefix="e1"):
    """🙋 Escalate now on a personal page: the next step of the alert's escalation policy, at once."""

    incident_id: RowId


class RemediateStep(str, Enum):
    ask = "ask"  # the 🛠 Remediate button. (`yes`/`no` by incident id are gone: a forged one is stale.)


class RemediateCb(CallbackData, prefix="r1"):
    step: RemediateStep
    incident_id: RowId


class ConfirmAnswer(str, Enum):
    yes = "yes"
    no = "no"


# A confirmation's random single-use token (ops.remediation.confirmations), never an id one could guess.
ConfirmToken = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,32}$")]


class ConfirmCb(CallbackData, prefix="c1"):
    """✅ Yes / ✖ Cancel under "Run <action>?": the answer and the question's token."""

    answer: ConfirmAnswer
    token: ConfirmToken


class SilenceCb(CallbackData, prefix="z1"):
    mode: str  # "1h" | "res" (until resolved)
    incident_id: RowId


class SloChartCb(CallbackData, prefix="s1"):
    window: RowId  # seconds


class AlertsPageCb(CallbackData, prefix="p1"):
    severity: str  # "" for all
    offset: RowId
    size: RowId


class IncidentPageCb(CallbackData, prefix="i1"):
    """◀ ▶ under /incident: which incident, which page of its timeline."""

    incident_id: RowId
    page: RowId


class DigestAction(str, Enum):
    ack_all = "ack"
    view = "v"  # show page `page` (0: the summary)


class DigestCb(CallbackData, prefix="d1"):
    action: DigestAction
    digest_id: RowId
    page: RowId = 0


class SwapAnswer(str, Enum):
    accept = "y"
    decline = "n"


class OnCallCb(CallbackData, prefix="o1"):
    """Accept / Decline under a swap offered in private: the answer and the override's id. Only the
    person it was offered to can answer (`ops.oncall.service.OnCall.answer`)."""

    answer: SwapAnswer
    override_id: RowId
