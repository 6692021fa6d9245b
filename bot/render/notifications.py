"""Every notification type (`ops.notify.types`) rendered for Telegram, through one registry.

A renderer turns a notification (and the alert it is about) into what the sender does: post the alert's
card, edit it, post a reply to it, or post a message of its own. Each type also names the section of a
storm digest it is listed under. `tests/bot/test_renderers.py` fails for a type without a renderer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any, Protocol, TypeVar

from bot.render.fit import esc
from bot.render.incidents import response_times_section
from bot.render.mutes import mute_ended
from bot.render.oncall import handoff_line, summary_text, unpageable_text
from bot.render.texts import (
    SEVERITY_ICON,
    config_rejected_text,
    raised_text,
    remediation_result_text,
    reminder_text,
    resolved_text,
    slo_report_text,
    title,
)
from ops.incidents.stats import ResponseTimes
from ops.model import Incident, IncidentStatus
from ops.notify import types as n
from ops.remediation.runner import RunView
from ops.slo.read import SloOverview
from ops.timeutil import format_duration


@dataclass(frozen=True)
class Card:
    """The alert's card: its buttons, edited in place later."""

    prefix: str = ""
    context: bool = False  # with the alert's whole context (a copy forwarded to the admins)
    page: bool = False  # a personal page: its keyboard has 🙋 Escalate now


@dataclass(frozen=True)
class Edit:
    """The card in this chat redrawn as the alert is now."""


@dataclass(frozen=True)
class Reply:
    """A message replying to the alert's card (a message of its own where the chat has none)."""

    text: str
    buttons: bool = False  # the alert's buttons, when the chat has no card to reply to
    redraw: bool = False  # the card is edited first (to show it resolved)


@dataclass(frozen=True)
class Post:
    """A message about no alert."""

    text: str


@dataclass(frozen=True)
class Nothing:
    """Nothing to send any more (a reminder of an alert acknowledged since it was queued)."""


Rendered = Card | Edit | Reply | Post | Nothing


class Undeliverable(Exception):
    """What this notification needs is gone (the remediation run it reports): it can never be sent."""


class Sources(Protocol):
    """What renderers may read beyond the notification and its alert."""

    now: datetime
    flap_settle: float

    async def run(self, run_id: int) -> RunView | None: ...

    async def slo(self) -> SloOverview: ...  # what /slo shows

    async def response_times(self, since: datetime, until: datetime) -> ResponseTimes: ...  # what /stats shows


N = TypeVar("N", bound=n.Notification)
Renderer = Callable[[Any, Incident, Sources], Awaitable[Rendered]]
RendererOf = Callable[[N, Incident, Sources], Awaitable[Rendered]]


@dataclass(frozen=True)
class Registration:
    render: Renderer
    section: Callable[[Any], str] | None  # its digest section (digestible types only)


RENDERERS: dict[type[n.Notification], Registration] = {}
# Storm digest sections, in the order a digest lists them.
NEW, ESCALATED, REMINDED, AGAIN, RAISED, FLAPPING, UPDATES, RESOLVED = (
    "🚨 New",
    "⏫ Unacknowledged, escalated",
    "⏰ Still firing, not acknowledged",
    "🔁 Failing again",
    "⬆️ Severity raised",
    "〰️ Flapping",
    "📣 Updates",
    "✅ Resolved",
)
SECTIONS = (NEW, ESCALATED, REMINDED, AGAIN, RAISED, FLAPPING, UPDATES, RESOLVED)


def renders(
    kind: type[N], section: str | Callable[[N], str] | None = None
) -> Callable[
    [Callable[[N, Incident, Sources], Awaitable[Rendered]]], Callable[[N, Incident, Sources], Awaitable[Rendered]]
]:
    def register(
        fn: Callable[[N, Incident, Sources], Awaitable[Rendered]],
    ) -> Callable[[N, Incident, Sources], Awaitable[Rendered]]:
        if kind in RENDERERS:
            raise TypeError(f"{kind.__name__} has two renderers")
        label = (lambda _n: section) if isinstance(section, str) else section
        RENDERERS[kind] = Registration(fn, label)
        return fn

    return register


async def render(notification: n.Notification, incident: Incident | None, sources: Sources) -> Rendered:
    """What to send for `notification`; `incident` is None only for types about no alert."""
    registration = RENDERERS.get(type(notification))
    if registration is None:
        raise Undeliverable(f"no renderer for {type(notification).__name__}")
    return await registration.render(notification, incident, sources)  # type: ignore[arg-type]


def digest_section(notification: n.Notification) -> str:
    registration = RENDERERS.get(type(notification))
    if registration is None or registration.section is None:
        return UPDATES
    return registration.section(notification)


def _head(icon: str, incident: Incident) -> str:
    return f"{icon} {SEVERITY_ICON[incident.severity]} <b>{escape(title(incident))}</b>"


def _fp(incident: Incident) -> str:
    return f"<code>#{incident.short_fingerprint}</code>"


def _state(incident: Incident) -> str:
    return "resolved ✅" if incident.status is IncidentStatus.resolved else "firing"


@renders(n.AlertCard, lambda card: ESCALATED if card.escalated else NEW)
async def _card(card: n.AlertCard, incident: Incident, sources: Sources) -> Rendered:
    if card.personal:
        return Card(prefix=page_line(card.schedule, card.after), page=True)
    return Card(prefix="〰️ <i>Stopped flapping; still firing.</i>\n" if card.settled else "", context=card.context)


def page_line(schedule: str, after: float) -> str:
    """The line above a personal page's card: why this person gets it."""
    return (
        f"📟 <b>You are paged</b>: on call for <b>{esc(schedule, 64)}</b>, "
        f"unacknowledged for {format_duration(after)}. ✅ Ack takes it; 🙋 Escalate now pages the next step.\n"
    )


@renders(n.CardRefresh)
async def _refresh(refresh: n.CardRefresh, incident: Incident, sources: Sources) -> Rendered:
    return Edit()


@renders(n.Resolved, RESOLVED)
async def _resolved(resolved: n.Resolved, incident: Incident, sources: Sources) -> Rendered:
    return Reply(resolved_text(incident, resolved.message or incident.message), redraw=True)


@renders(n.FiredAgain, AGAIN)
async def _again(again: n.FiredAgain, incident: Incident, sources: Sources) -> Rendered:
    return Reply(f"{_head('🔁', incident)} is failing again: {esc(again.message or incident.message, 1000)}")


@renders(n.Reminder, REMINDED)
async def _reminder(reminder: n.Reminder, incident: Incident, sources: Sources) -> Rendered:
    if incident.status is not IncidentStatus.firing:  # acknowledged or resolved since it was queued
        return Nothing()
    return Reply(reminder_text(incident, sources.now))


@renders(n.SeverityRaised, RAISED)
async def _raised(raised: n.SeverityRaised, incident: Incident, sources: Sources) -> Rendered:
    return Reply(raised_text(incident, raised.previous.value))


@renders(n.Escalated, ESCALATED)
async def _escalated(escalated: n.Escalated, incident: Incident, sources: Sources) -> Rendered:
    return Reply(f"⏫ Unacknowledged for {format_duration(escalated.after)}")


PAGE_FAILED = {"unknown": "they have never started the bot in private", "blocked": "they have blocked the bot"}


@renders(n.PageFailed)
async def _page_failed(failed: n.PageFailed, incident: Incident, sources: Sources) -> Rendered:
    schedule = f"<b>{esc(failed.schedule, 64)}</b>"
    if failed.reason == "no_schedule":
        why = f"📟 Nobody could be paged: there is no on-call schedule {schedule} any more."
    else:
        reason = PAGE_FAILED.get(failed.reason, esc(failed.reason, 64))
        why = f"📟 {esc(failed.name, 64)} (on call for {schedule}) cannot be paged: {reason}."
    return Reply(f"{why} Step {failed.step} of the escalation failed; the next one follows at its time.", buttons=True)


@renders(n.FlappingStarted, FLAPPING)
async def _flapping(flapping: n.FlappingStarted, incident: Incident, sources: Sources) -> Rendered:
    return Reply(
        f"{_head('〰️', incident)} is flapping: {flapping.changes} state changes in "
        f"{format_duration(flapping.window)}. No more notifications about it until it holds one state for "
        f"{format_duration(sources.flap_settle)}. Now: {_state(incident)} · {_fp(incident)}",
        buttons=True,
    )


@renders(n.FlappingSettled, FLAPPING)
async def _settled(settled: n.FlappingSettled, incident: Incident, sources: Sources) -> Rendered:
    return Reply(f"{_head('〰️', incident)} stopped flapping: {_state(incident)} · {_fp(incident)}", buttons=True)


@renders(n.Unmuted, UPDATES)
async def _unmuted(unmuted: n.Unmuted, incident: Incident, sources: Sources) -> Rendered:
    return Reply(mute_ended(unmuted.mute))


@renders(n.RemediationResult)
async def _remediation(result: n.RemediationResult, incident: Incident, sources: Sources) -> Rendered:
    run = await sources.run(result.run_id)
    if run is None:
        raise Undeliverable("the remediation run is gone")
    return Reply(remediation_result_text(incident, run))


@renders(n.Rechecked, UPDATES)
async def _rechecked(rechecked: n.Rechecked, incident: Incident, sources: Sources) -> Rendered:
    verdict = "passes now ✅" if rechecked.passes else "still failing"
    return Reply(
        f"🔁 {esc(incident.source, 128)} after {esc(rechecked.action, 64)}: {verdict} — {esc(rechecked.message, 1000)}"
    )


@renders(n.RemediationPaused, UPDATES)
async def _paused(paused: n.RemediationPaused, incident: Incident, sources: Sources) -> Rendered:
    return Reply(
        f"⏸ auto-remediation paused: {paused.runs} runs in the last hour ({esc(paused.action, 64)}); "
        "it only notifies until the hour has passed"
    )


@renders(n.SloReport)
async def _slo_report(report: n.SloReport, incident: Incident, sources: Sources) -> Rendered:
    """The SLOs as /slo shows them, then MTTA/MTTR over the week the report closes (up to its due time)."""
    until = sources.now
    if report.due:
        with contextlib.suppress(ValueError):
            until = datetime.fromisoformat(report.due)
    times = await sources.response_times(until - timedelta(days=7), until)
    return Post(slo_report_text(await sources.slo()) + "\n\n" + response_times_section(times))


@renders(n.ConfigRejected)
async def _config_rejected(rejected: n.ConfigRejected, incident: Incident, sources: Sources) -> Rendered:
    return Post(config_rejected_text(rejected.path, rejected.errors, rejected.replica))


@renders(n.OnCallHandoff)
async def _oncall_handoff(handoff: n.OnCallHandoff, incident: Incident, sources: Sources) -> Rendered:
    return Post(
        handoff_line(
            handoff.schedule,
            handoff.user_id,
            handoff.name,
            handoff.until,
            handoff.tz,
            handoff.override,
            handoff.open_incidents,
        )
    )


@renders(n.OnCallSummary)
async def _oncall_summary(summary: n.OnCallSummary, incident: Incident, sources: Sources) -> Rendered:
    return Post(summary_text(summary.schedule, summary.until, summary.tz, summary.incidents, summary.total))


@renders(n.Unpageable)
async def _unpageable(unpageable: n.Unpageable, incident: Incident, sources: Sources) -> Rendered:
    return Post(unpageable_text(unpageable.members))
