"""Button payloads: versioned CallbackData factories, each well under Telegram's 64 bytes."""

from __future__ import annotations

from enum import Enum

from aiogram.filters.callback_data import CallbackData


class AlertAction(str, Enum):
    ack = "ack"
    unack = "unack"
    runbook = "rb"
    check = "chk"


class AlertCb(CallbackData, prefix="a1"):
    """A press on an alert's button; refers to the incident by id, nothing else."""

    action: AlertAction
    incident_id: int


class RemediateStep(str, Enum):
    ask = "ask"  # the 🛠 Remediate button
    yes = "yes"  # confirmed
    cancel = "no"


class RemediateCb(CallbackData, prefix="r1"):
    step: RemediateStep
    incident_id: int


class SilenceCb(CallbackData, prefix="z1"):
    mode: str  # "1h" | "res" (until resolved)
    incident_id: int


class SloChartCb(CallbackData, prefix="s1"):
    window: int  # seconds


class AlertsPageCb(CallbackData, prefix="p1"):
    severity: str  # "" for all
    offset: int
    size: int


class DigestAction(str, Enum):
    ack_all = "ack"
    view = "v"  # show page `page` (0: the summary)


class DigestCb(CallbackData, prefix="d1"):
    action: DigestAction
    digest_id: int
    page: int = 0
