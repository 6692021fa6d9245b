"""Every text the bot sends, as Telegram HTML. Values from outside are always escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from ops.model import Incident, IncidentStatus, Severity
from ops.remediation.runner import RunView, describe_run
from ops.services import AlertPage, HealthReport, SloReport
from ops.slo.evaluate import SloStatus
from ops.sweeper import SweepReport
from ops.timeutil import format_duration, format_size

SEVERITY_ICON = {Severity.info: "🔵", Severity.warning: "🟡", Severity.error: "🟠", Severity.critical: "🔴"}
CARD_MESSAGE_LIMIT = 2500  # longer messages continue in replies, so the card itself never splits
COMMANDS = [
    ("start", "What this bot does"),
    ("help", "Commands"),
    ("health", "Every detector: last result, firing or not"),
    ("alerts", "Recent incidents: /alerts [severity] [N]"),
    ("slo", "SLOs: budget, burn rates, chart: /slo [window]"),
    ("ack", "Acknowledge: /ack <id|#fingerprint>"),
    ("detectors", "Configured detectors"),
    ("remediate", "Run a detector's remediation (admins)"),
    ("runbook", "A detector's runbook: /runbook <detector>"),
    ("remediations", "Recent remediation runs: /remediations [N]"),
    ("silence", "Silence alerts: /silence <detector|#fp|label=value> <duration> [reason]"),
    ("silences", "Active silences"),
    ("unsilence", "End a silence: /unsilence <id>"),
    ("sweep", "Run every detector now (admins)"),
]


def hhmm(ts: datetime) -> str:
    return ts.strftime("%H:%M UTC")


def when(ts: datetime, now: datetime) -> str:
    return ts.strftime("%H:%M UTC") if (now - ts).total_seconds() < 20 * 3600 else ts.strftime("%Y-%m-%d %H:%M UTC")


def title(incident: Incident) -> str:
    key = f"[{incident.key}]" if incident.key else ""
    return f"{incident.source}{key}"


# -- alert cards -------------------------------------------------------------------------
def alert_card(
    incident: Incident, now: datetime, run: RunView | None = None, context: bool = False
) -> tuple[str, list[str]]:
    """The card (one message, with buttons) and, for a very long message, its continuation text."""
    message = incident.message
    rest = ""
    if len(message) > CARD_MESSAGE_LIMIT:
        cut = message.rfind("\n", 0, CARD_MESSAGE_LIMIT)
        cut = cut if cut > CARD_MESSAGE_LIMIT // 2 else CARD_MESSAGE_LIMIT
        message, rest = message[:cut] + " …", message[cut:]
    lines = [
        card_head(incident),
        escape(message),
        "",
    ]
    details = _details(incident)
    lines += details + ([""] if details else [])
    lines.append(
        f"<code>#{incident.short_fingerprint}</code> · incident {incident.id} · since {when(incident.opened_at, now)}"
    )
    if context:
        lines.append(f"<i>Forwarded to the admins with its context: {escape(_context(incident))}</i>")
    if run is not None:
        lines.append(escape(describe_run(run)[:600]))
    if incident.extras.get("silenced_by") and incident.status is not IncidentStatus.resolved:
        lines.append(f"🔕 Silenced ({escape(str(incident.extras['silenced_by']))}): nothing more is sent")
    if incident.status is IncidentStatus.acknowledged and incident.acknowledged_at:
        lines.append(
            f"👀 Acknowledged by {escape(incident.acknowledged_by or '?')} at {hhmm(incident.acknowledged_at)}"
        )
    if incident.status is IncidentStatus.resolved and incident.resolved_at:
        took = format_duration((incident.resolved_at - incident.opened_at).total_seconds())
        lines.append(f"✅ Resolved after {took}")
    continuation = [f"<i>{escape(title(incident))}, continued:</i>\n{escape(rest)}"] if rest else []
    return "\n".join(lines), continuation


def _context(incident: Incident) -> str:
    opened = incident.opened_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"opened {opened}, {incident.notification_count} notification(s), status {incident.status.value}, "
        f"fingerprint {incident.fingerprint}"
    )


def remediation_result_text(incident: Incident, run: RunView) -> str:
    head = escape(describe_run(run)[:600])
    body = f"\n<pre>{escape(run.output)}</pre>" if run.output else ""
    return f"{head} · <b>{escape(title(incident))}</b>{body}"


def remediations_text(runs: list[RunView], now: datetime) -> str:
    if not runs:
        return "🛠 <b>Remediations</b>: none yet."
    lines = [f"🛠 <b>Remediations</b> · last {len(runs)}", ""]
    for run in runs:
        where = f" · incident {run.incident_id}" if run.incident_id else ""
        lines.append(f"{escape(describe_run(run)[:300])}{where} · {when(run.started_at, now)}")
    return "\n".join(lines)


def _details(incident: Incident) -> list[str]:
    extras = incident.extras
    out = []
    if extras.get("value") is not None:
        out.append(f"<b>value</b>: {escape(_value(extras['value'], extras.get('unit')))}")
    if extras.get("threshold"):
        out.append(f"<b>threshold</b>: {escape(str(extras['threshold']))}")
    if incident.key:
        out.append(f"<b>key</b>: {escape(incident.key)}")
    labels = extras.get("labels") or {}
    if labels:
        text = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        out.append(f"<b>labels</b>: {escape(text[:500])}")
    return out


def card_head(incident: Incident) -> str:
    severity = incident.severity.value.upper()
    if incident.status is IncidentStatus.resolved:
        return f"✅ <b>RESOLVED · {escape(incident.source)}</b> · was {severity}"
    return f"{SEVERITY_ICON[incident.severity]} <b>{severity} · {escape(incident.source)}</b>"


def _value(value: float, unit: str | None) -> str:
    if unit == "s":
        return format_duration(value)
    if unit == "bytes":
        return format_size(value)
    return _num(value)


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def reminder_text(incident: Incident, now: datetime) -> str:
    firing_for = format_duration((now - incident.opened_at).total_seconds())
    icon = SEVERITY_ICON[incident.severity]
    return (
        f"⏰ {icon} <b>{escape(title(incident))}</b> still firing for {firing_for} "
        f"· not acknowledged · <code>#{incident.short_fingerprint}</code>"
    )


def resolved_text(incident: Incident, message: str) -> str:
    took = format_duration(((incident.resolved_at or incident.opened_at) - incident.opened_at).total_seconds())
    return f"✅ <b>{escape(title(incident))}</b> resolved after {took}\n{escape(message[:1000])}"


def flapping_text(incident: Incident, payload: dict[str, Any], settle: float) -> str:
    now_state = "firing" if incident.status is not IncidentStatus.resolved else "resolved ✅"
    head = f"〰️ {SEVERITY_ICON[incident.severity]} <b>{escape(title(incident))}</b>"
    fp = f"<code>#{incident.short_fingerprint}</code>"
    if payload.get("settled"):
        return f"{head} stopped flapping: {now_state} · {fp}"
    changes = int(payload.get("changes") or 0)
    window = format_duration(float(payload.get("window") or 0))
    return (
        f"{head} is flapping: {changes} state changes in {window}. No more notifications about it until it "
        f"holds one state for {format_duration(settle)}. Now: {now_state} · {fp}"
    )


def raised_text(incident: Incident, previous: str) -> str:
    icon = SEVERITY_ICON[incident.severity]
    return (
        f"⬆️ {icon} <b>{escape(title(incident))}</b> is now {incident.severity.value.upper()} "
        f"(was {escape(previous)})\n{escape(incident.message[:1000])}"
    )


# -- command answers ---------------------------------------------------------------------
def help_text() -> str:
    lines = ["<b>opsbot</b> runs this team's health checks and brings their alerts here, with buttons.", ""]
    lines += [f"/{name} — {escape(desc)}" for name, desc in COMMANDS]
    lines += ["", "Buttons on an alert: ✅ Ack stops reminders, 🔁 Check now re-runs its detector (admins)."]
    return "\n".join(lines)


def unconfigured_text(chat_id: int, private: bool) -> str:
    setting = "ADMIN_USER_IDS (your user id, for a private console)" if private else "ALERT_CHAT_IDS or ADMIN_CHAT_IDS"
    return f"This chat is not configured. Chat id: <code>{chat_id}</code>\nAdd it to {setting}."


def health_text(report: HealthReport) -> str:
    firing = sum(1 for d in report.detectors for i in d.open_incidents if i.status is IncidentStatus.firing)
    acked = sum(1 for d in report.detectors for i in d.open_incidents if i.status is IncidentStatus.acknowledged)
    head = f"🩺 <b>Health</b> · {len(report.detectors)} detectors · {firing} firing · {acked} acknowledged"
    lines = [head, ""]
    for d in report.detectors:
        name = f"<b>{escape(d.name)}</b>"
        if not d.last:
            lines.append(f"⏳ {name} · not run yet")
            continue
        age = format_duration((report.now - max(c.ts for c in d.last)).total_seconds())
        failing = [c for c in d.last if not c.ok]
        if d.open_incidents:
            worst = max(d.open_incidents, key=lambda i: i.severity.rank)
            icon = SEVERITY_ICON[worst.severity]
            state = (
                "acknowledged" if all(i.status is IncidentStatus.acknowledged for i in d.open_incidents) else "FIRING"
            )
            lines.append(f"{icon} {name} · {state} · {age} ago")
        elif any(c.status == "error" for c in d.last):
            lines.append(f"⚠️ {name} · error · {age} ago")
        elif failing:
            lines.append(f"🟡 {name} · failing ({len(failing)} of {len(d.last)}) · {age} ago")
        elif all(c.status == "no_data" for c in d.last):
            lines.append(f"⚪ {name} · no data · {age} ago")
        else:
            keys = f" · {len(d.last)} keys" if len(d.last) > 1 else ""
            lines.append(f"✅ {name} · ok{keys} · {age} ago")
        for incident in d.open_incidents:
            acked_by = f" · acked by {escape(incident.acknowledged_by or '?')}" if incident.acknowledged_by else ""
            if incident.extras.get("inhibited_by"):
                acked_by += f" · 🔇 inhibited by {escape(str(incident.extras['inhibited_by']))}"
            lines.append(
                f"   └ {escape(incident.message[:200])} · <code>#{incident.short_fingerprint}</code>{acked_by}"
            )
        for check in failing:
            if not any(i.key == check.key for i in d.open_incidents):
                lines.append(f"   └ {escape(check.message[:200])}")
    c = report.counts
    lines += [
        "",
        f"<i>Alerts last hour: {c.get('alerts_last_hour', 0)} · critical (24h): {c.get('critical_last_24h', 0)} · "
        f"remediations (1h): {c.get('remediations_last_hour', 0)} · "
        f"remediation failures (24h): {c.get('remediation_failures_24h', 0)}</i>",
    ]
    return "\n".join(lines)


def alerts_text(page: AlertPage, severity: str, now: datetime) -> str:
    scope = f" · {severity}" if severity else ""
    if not page.incidents:
        return f"📋 <b>Alerts</b>{scope}: none."
    last = page.offset + len(page.incidents)
    lines = [f"📋 <b>Alerts</b>{scope} · {page.offset + 1}–{last} of {page.total}, newest first", ""]
    for i in page.incidents:
        icon = SEVERITY_ICON[i.severity]
        if i.status is IncidentStatus.resolved and i.resolved_at:
            state = f"✅ resolved after {format_duration((i.resolved_at - i.opened_at).total_seconds())}"
        elif i.extras.get("silenced_by"):
            state = f"🔕 silenced ({escape(str(i.extras['silenced_by']))})"
        elif i.extras.get("inhibited_by"):
            state = f"🔇 inhibited while {escape(str(i.extras['inhibited_by']))} fires"
        elif i.status is IncidentStatus.acknowledged:
            state = f"👀 acked by {escape(i.acknowledged_by or '?')}"
        else:
            state = f"🔥 firing for {format_duration((now - i.opened_at).total_seconds())}"
        lines.append(
            f"{icon} <b>{i.id}</b> · {escape(title(i))} · {when(i.opened_at, now)} · {state} "
            f"· <code>#{i.short_fingerprint}</code>"
        )
    return "\n".join(lines)


def slo_text(report: SloReport) -> str:
    lines = [f"🎯 <b>SLO</b> · last {report.days} day(s), checks passing per day", ""]
    lines.append("<pre>day         checks   ok %  incidents  crit</pre>")
    rows = []
    for d in report.daily:
        pct = f"{d.pct:6.2f}" if d.pct is not None else "     —"
        rows.append(f"{d.day}  {d.checks:6d}  {pct}  {d.incidents:9d}  {d.critical_total:4d}")
    lines.append("<pre>" + "\n".join(rows) + "</pre>")
    lines.append("")
    lines.append("<b>Per detector</b>")
    for det in report.detectors:
        if det.pct is None:
            lines.append(f"⏳ {escape(det.name)}: no checks in this window")
            continue
        target = ""
        icon = "•"
        if det.objective is not None:
            icon = "✅" if det.meets else "🔥"
            target = f" (objective {det.objective:g}%)"
        lines.append(f"{icon} {escape(det.name)}: {det.pct:.2f}% of {det.checks} checks{target}")
    return "\n".join(lines)


SLO_ICON = {"page": "🔥", "ticket": "⚠️", "breached": "⚠️", "ok": "✅", "no_data": "⏳"}


def _bar(percent: float, width: int = 10) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return "▓" * filled + "░" * (width - filled)


def slo_status_text(statuses: list[SloStatus], window: float | None) -> str:
    scope = f"window {format_duration(window)}" if window else "each over its own window"
    lines = [f"🎯 <b>SLOs</b> · {scope}", ""]
    for s in statuses:
        head = f"{SLO_ICON[s.state]} <b>{escape(s.name)}</b> · objective {s.config.objective:g}%"
        if s.sli is None:
            lines += [head + " · no events in the window", ""]
            continue
        budget = s.budget_remaining or 0.0
        rates = " · ".join(f"{k} {v:.1f}" if v is not None else f"{k} —" for k, v in s.burn.items())
        lines += [
            f"{head} · actual {s.sli:.2f}% of {int(s.total):,} over {format_duration(s.window)}",
            f"   budget {_bar(budget)} {budget:.0f}% left",
            f"   burn {rates}",
            "",
        ]
    bad = [s for s in statuses if s.state in ("page", "ticket", "breached")]
    if not statuses:
        lines.append("No SLOs configured.")
    elif bad:
        names = ", ".join(escape(s.name) for s in bad)
        icon = "🔥" if any(s.state == "page" for s in bad) else "⚠️"
        lines.append(f"Overall: {icon} {len(bad)} of {len(statuses)} SLOs need attention: {names}")
    else:
        lines.append(f"Overall: ✅ {len(statuses)} of {len(statuses)} SLOs within objective")
    return "\n".join(lines)


def slo_report_text(statuses: list[SloStatus]) -> str:
    return "🗓 <b>Weekly SLO report</b>\n\n" + slo_status_text(statuses, None)


def detectors_text(configs: list, default_every: float) -> str:
    lines = [f"🔎 <b>Detectors</b> · {len(configs)}", ""]
    for d in configs:
        every = format_duration(d.interval(default_every))
        extra = f" · for {d.for_}" if d.for_ > 1 else ""
        lines.append(
            f"{SEVERITY_ICON[d.severity]} <b>{escape(d.name)}</b> · {d.kind} · every {every}{extra}"
            + (f"\n   {escape(d.description)}" if d.description else "")
        )
    return "\n".join(lines)


def sweep_text(report: SweepReport) -> str:
    failing = report.failing
    head = f"🧹 <b>Sweep</b>: {len(report.results)} checks, {len(failing)} failing"
    lines = [head]
    for r in failing:
        lines.append(f"{SEVERITY_ICON[r.severity]} {escape(r.message[:300])}")
    if not failing:
        lines.append("All detectors pass.")
    return "\n".join(lines)
