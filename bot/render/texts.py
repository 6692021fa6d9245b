"""Every text the bot sends, as Telegram HTML. Values from outside are always escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape

from bot.render.fit import clip, cut_at, esc, pack
from bot.render.mutes import mute_phrase
from bot.render.split import TELEGRAM_LIMIT, u16
from ops.alert_history import AlertPage
from ops.health import DetectorStatus, HealthSummary
from ops.model import Incident, IncidentStatus, Severity
from ops.reload import ReloadOutcome
from ops.remediation.runner import RunView
from ops.slo.read import NEEDS_ATTENTION, Compliance, SloOverview, SloStatus
from ops.sweeper import SweepReport
from ops.timeutil import format_duration, format_size

SEVERITY_ICON = {Severity.info: "🔵", Severity.warning: "🟡", Severity.error: "🟠", Severity.critical: "🔴"}
CARD_MESSAGE_LIMIT = 2500  # UTF-16 units; longer messages continue in replies, so the card never splits
NAME_UNITS = 64  # a detector (or Alertmanager alert) name in a title
KEY_UNITS = 64  # a key in a title; the card's own `key:` line shows more of it
CARD_KEY_UNITS = 300
CONTINUATION_UNITS = 32_000  # the rest of a card's message (escaped): eight more messages at most, then cut
MAX_ANSWER_PARTS = 2  # command answers over data of any size: at most this many messages
COMMANDS = [
    ("start", "What this bot does"),
    ("help", "Commands"),
    ("health", "Every detector: last result, firing or not"),
    ("alerts", "Recent alerts: /alerts [severity] [N]"),
    ("slo", "SLOs: budget, burn rates, chart: /slo [window]"),
    ("oncall", "Who is on call; /oncall take|swap @user [schedule] [duration]"),
    ("ack", "Acknowledge: /ack <id|#fingerprint>"),
    ("incidents", "Open incidents (alerts grouped)"),
    ("incident", "An incident and its timeline: /incident <id>"),
    ("note", "Add a note to an incident's timeline: /note <id> <text>"),
    ("postmortem", "A postmortem draft as a file: /postmortem <id>"),
    ("stats", "MTTA and MTTR: /stats [days]"),
    ("detectors", "Configured detectors"),
    ("remediate", "Run a detector's remediation (admins)"),
    ("runbook", "A detector's runbook: /runbook <detector>"),
    ("remediations", "Recent remediation runs: /remediations [N]"),
    ("silence", "Silence alerts: /silence <detector|#fp|label=value> <duration> [reason]"),
    ("silences", "Active silences"),
    ("unsilence", "End a silence: /unsilence <id>"),
    ("sweep", "Run every detector now (admins)"),
    ("backtest", "Replay a detector over a past window: /backtest <detector> [30d] (admins)"),
    ("reload", "Re-read the settings and the config file (admins)"),
    ("console", "The console in a browser: a one-time login link (private chat)"),
]


def hhmm(ts: datetime) -> str:
    return ts.strftime("%H:%M UTC")


def when(ts: datetime, now: datetime) -> str:
    return ts.strftime("%H:%M UTC") if (now - ts).total_seconds() < 20 * 3600 else ts.strftime("%Y-%m-%d %H:%M UTC")


def title(incident: Incident) -> str:
    """`detector[key]`, plain text, both shortened: at most 130 UTF-16 units whatever the key."""
    key = f"[{clip(incident.key, KEY_UNITS)}]" if incident.key else ""
    return f"{clip(incident.source, NAME_UNITS)}{key}"


# -- alert cards -------------------------------------------------------------------------
def alert_card(
    incident: Incident,
    now: datetime,
    run: RunView | None = None,
    context: bool = False,
    limit: int = TELEGRAM_LIMIT,
) -> tuple[str, list[str]]:
    """The card (one message of at most `limit` UTF-16 units, with buttons) and, for a long message, its
    continuation text. Everything but the message is bounded; the message gets the room that is left."""
    above = [card_head(incident)]
    below: list[str] = []
    details = _details(incident)
    below += ["", *details] if details else []
    below += [
        "",
        f"<code>#{incident.short_fingerprint}</code> · {alert_ref(incident)} · since {when(incident.opened_at, now)}",
    ]
    if context:
        below.append(f"<i>Forwarded to the admins with its context: {esc(_context(incident), 400)}</i>")
    if run is not None:
        below.append(esc(describe_run(run), 600))
    if incident.muted is not None and incident.status is not IncidentStatus.resolved:
        below.append(f"{mute_phrase(incident.muted, 200)}: nothing more is sent")
    if incident.status is IncidentStatus.acknowledged and incident.acknowledged_at:
        below.append(
            f"👀 Acknowledged by {esc(incident.acknowledged_by or '?', 130)} at {hhmm(incident.acknowledged_at)}"
        )
    if incident.status is IncidentStatus.resolved and incident.resolved_at:
        took = format_duration((incident.resolved_at - incident.opened_at).total_seconds())
        below.append(f"✅ Resolved after {took}")
    fixed = u16("\n".join(above + below)) + 1
    room = max(0, min(CARD_MESSAGE_LIMIT, limit - fixed - 2))  # 2: " …"
    message = incident.message
    cut = cut_at(message, room)
    rest = message[cut:]
    shown = escape(message[:cut], quote=False) + (" …" if rest else "")
    continuation = []
    if rest.strip():
        keep = cut_at(rest, CONTINUATION_UNITS)
        more = f"\n<i>… {len(rest) - keep:,} more characters not shown</i>" if keep < len(rest) else ""
        continuation = [f"<i>{escape(title(incident))}, continued:</i>\n{escape(rest[:keep])}{more}"]
    return "\n".join([*above, shown, *below]), continuation


def _context(incident: Incident) -> str:
    opened = incident.opened_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"opened {opened}, {incident.notification_count} notification(s), status {incident.status.value}, "
        f"fingerprint {incident.fingerprint}"
    )


def remediation_result_text(incident: Incident, run: RunView) -> str:
    head = esc(describe_run(run), 600)
    body = f"\n<pre>{escape(run.output)}</pre>" if run.output and run.output.strip() else ""
    return f"{head} · <b>{escape(title(incident))}</b>{body}"


def remediations_text(runs: list[RunView], now: datetime) -> str:
    """At most 50 runs of at most ~150 units each: two messages at most."""
    if not runs:
        return "🛠 <b>Remediations</b>: none yet."
    lines = [f"🛠 <b>Remediations</b> · last {len(runs)}", ""]
    for run in runs:
        where = f" · alert {run.incident_id}" if run.incident_id else ""
        lines.append(f"{esc(describe_run(run), 110)}{where} · {when(run.started_at, now)}")
    return "\n".join(lines)


def _details(incident: Incident) -> list[str]:
    extras = incident.extras
    out = []
    if extras.get("value") is not None:
        out.append(f"<b>value</b>: {esc(_value(extras['value'], extras.get('unit')), 100)}")
    if extras.get("threshold"):
        out.append(f"<b>threshold</b>: {esc(str(extras['threshold']), 100)}")
    if incident.key:
        out.append(f"<b>key</b>: {esc(incident.key, CARD_KEY_UNITS)}")
    labels = extras.get("labels") or {}
    if labels:
        text = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        out.append(f"<b>labels</b>: {esc(text, 500)}")
    return out


def card_head(incident: Incident) -> str:
    severity = incident.severity.value.upper()
    source = esc(incident.source, 2 * NAME_UNITS)
    if incident.status is IncidentStatus.resolved:
        return f"✅ <b>RESOLVED · {source}</b> · was {severity}"
    return f"{SEVERITY_ICON[incident.severity]} <b>{severity} · {source}</b>"


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
    return f"✅ <b>{escape(title(incident))}</b> resolved after {took}\n{esc(message, 1000)}"


def raised_text(incident: Incident, previous: str) -> str:
    icon = SEVERITY_ICON[incident.severity]
    return (
        f"⬆️ {icon} <b>{escape(title(incident))}</b> is now {incident.severity.value.upper()} "
        f"(was {esc(previous, 20)})\n{esc(incident.message, 1000)}"
    )


# -- command answers ---------------------------------------------------------------------
def help_text() -> str:
    lines = ["<b>opsbot</b> runs this team's health checks and brings their alerts here, with buttons.", ""]
    lines += [f"/{name} — {escape(desc)}" for name, desc in COMMANDS]
    lines += ["", "Buttons on an alert: ✅ Ack stops reminders, 🔁 Check now re-runs its detector (admins)."]
    lines += ["Replies to an alert's card and messages in an incident's topic join the incident's timeline."]
    return "\n".join(lines)


def member_text() -> str:
    """/start in private from a member of an on-call schedule whose chat is no console."""
    return (
        "📟 Got it: I can page you here when you are on call.\n"
        "/oncall — who is on call · /oncall take [schedule] [duration] · /oncall swap @user [schedule] [duration]"
    )


def unconfigured_text(chat_id: int, private: bool) -> str:
    setting = "ADMIN_USER_IDS (your user id, for a private console)" if private else "ALERT_CHAT_IDS or ADMIN_CHAT_IDS"
    return f"This chat is not configured. Chat id: <code>{chat_id}</code>\nAdd it to {setting}."


def _status_order(d: DetectorStatus) -> tuple[int, int]:
    """Problems first: open incidents (worst first), errors, failing checks, no data, not run, ok."""
    if d.open:
        return 0, -(d.worst.rank if d.worst else 0)
    if d.last_at is None:
        return 4, 0
    if d.errors:
        return 1, 0
    if d.failing:
        return 2, 0
    if d.no_data == d.checks:
        return 3, 0
    return 5, 0


def _detector_line(d: DetectorStatus, now: datetime) -> str:
    name = f"<b>{esc(d.name, NAME_UNITS)}</b>"
    if d.last_at is None and not d.open:
        return f"⏳ {name} · not run yet"
    age = f" · {format_duration((now - d.last_at).total_seconds())} ago" if d.last_at else ""
    if d.open:
        icon = SEVERITY_ICON[d.worst or Severity.warning]
        state = "FIRING" if d.firing else "acknowledged"
        many = f" · {d.open:,} open" if d.open > 1 else ""
        return f"{icon} {name} · {state}{many}{age}"
    if d.errors:
        return f"⚠️ {name} · error{age}"
    if d.failing:
        return f"🟡 {name} · failing ({d.failing:,} of {d.checks:,}){age}"
    if d.no_data == d.checks:
        return f"⚪ {name} · no data{age}"
    keys = f" · {d.checks:,} keys" if d.checks > 1 else ""
    return f"✅ {name} · ok{keys}{age}"


def _incident_line(incident: Incident) -> str:
    extra = f" · acked by {esc(incident.acknowledged_by, 64)}" if incident.acknowledged_by else ""
    if incident.muted is not None:
        extra += f" · {mute_phrase(incident.muted)}"
    return f"   └ {esc(incident.message, 200)} · <code>#{incident.short_fingerprint}</code>{extra}"


def health_parts(report: HealthSummary, max_parts: int = MAX_ANSWER_PARTS) -> list[str]:
    """/health in at most `max_parts` messages however big the storm: every detector's status (problems
    first), the worst open incidents under their detectors, and a line saying how many more there are."""
    firing = sum(d.firing for d in report.detectors)
    acked = sum(d.acknowledged for d in report.detectors)
    head = [
        f"🩺 <b>Health</b> · {len(report.detectors):,} detectors · {firing:,} firing · {acked:,} acknowledged",
        "",
    ]
    incidents: dict[str, list[Incident]] = {}
    for incident in report.incidents:
        incidents.setdefault(incident.source, []).append(incident)
    unalerted: dict[str, list[str]] = {}
    for check in report.unalerted:
        unalerted.setdefault(check.detector, []).append(f"   └ {esc(check.message, 200)}")
    ordered = sorted(report.detectors, key=_status_order)
    blocks = [
        [
            _detector_line(d, report.now),
            *(_incident_line(i) for i in incidents.get(d.name, [])),
            *unalerted.get(d.name, []),
        ]
        for d in ordered
    ]
    c = report.counts

    def footer(left_out: int) -> list[str]:
        shown = ordered[: len(ordered) - left_out]
        listed = sum(len(incidents.get(d.name, [])) for d in shown)
        checks = sum(len(unalerted.get(d.name, [])) for d in shown)
        lines = [""]
        if left_out:
            lines.append(f"…and {left_out:,} more detectors not shown")
        if report.open_total > listed:
            lines.append(f"…and {report.open_total - listed:,} more open alerts — /alerts to page")
        if report.unalerted_total > checks:
            lines.append(f"…and {report.unalerted_total - checks:,} more failing checks without an alert")
        lines.append(
            f"<i>Alerts last hour: {c.get('alerts_last_hour', 0)} · critical (24h): {c.get('critical_last_24h', 0)} · "
            f"remediations (1h): {c.get('remediations_last_hour', 0)} · "
            f"remediation failures (24h): {c.get('remediation_failures_24h', 0)}</i>"
        )
        return lines

    parts, _ = pack(blocks, head=head, footer=footer, max_parts=max_parts)
    return parts


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
        elif i.muted is not None:
            state = mute_phrase(i.muted, 48)
        elif i.status is IncidentStatus.acknowledged:
            state = f"👀 acked by {esc(i.acknowledged_by or '?', 48)}"
        else:
            state = f"🔥 firing for {format_duration((now - i.opened_at).total_seconds())}"
        lines.append(
            f"{icon} <b>{i.id}</b> · {esc(title(i), 80)} · {when(i.opened_at, now)} · {state} "
            f"· <code>#{i.short_fingerprint}</code>"
        )
    return "\n".join(lines)


def slo_text(report: SloOverview) -> str:
    """/slo: the SLOs' statuses (unless only the day view was asked for and no SLO is configured), then
    the day view when there is one."""
    sections = []
    if report.slos or report.compliance is None:
        sections.append(_slo_statuses(report.slos, report.window))
    if report.compliance is not None:
        sections.append(_compliance(report.compliance))
    return "\n\n".join(sections)


def slo_report_text(report: SloOverview) -> str:
    return "🗓 <b>Weekly SLO report</b>\n\n" + slo_text(report)


def _compliance(compliance: Compliance) -> str:
    lines = [f"🎯 <b>SLO</b> · last {compliance.days} day(s), checks passing per day", ""]
    lines.append("<pre>day         checks   ok %  incidents  crit</pre>")
    rows = []
    for d in compliance.daily:
        pct = f"{d.pct:6.2f}" if d.pct is not None else "     —"
        rows.append(f"{d.day}  {d.checks:6d}  {pct}  {d.incidents:9d}  {d.critical:4d}")
    lines.append("<pre>" + "\n".join(rows) + "</pre>")
    lines.append("")
    lines.append("<b>Per detector</b>")
    for det in compliance.detectors:
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


def about(seconds: float) -> str:
    """`~4 days` from two days up, `~30 hours` from an hour, `~12 minutes` below: a rough time ahead."""
    if seconds >= 2 * 86400:
        n, unit = round(seconds / 86400), "day"
    elif seconds >= 3600:
        n, unit = round(seconds / 3600), "hour"
    else:
        n, unit = max(1, round(seconds / 60)), "minute"
    return f"~{n} {unit}{'s' if n != 1 else ''}"


def _slo_statuses(statuses: list[SloStatus], window: float | None) -> str:
    scope = f"window {format_duration(window)}" if window else "each over its own window"
    lines = [f"🎯 <b>SLOs</b> · {scope}", ""]
    for s in statuses:
        head = f"{SLO_ICON[s.state]} <b>{escape(s.name)}</b> · objective {s.objective:g}%"
        if s.sli is None:
            lines += [head + " · no events in the window", ""]
            continue
        budget = s.budget_remaining or 0.0
        rates = " · ".join(f"{k} {v:.1f}" if v is not None else f"{k} —" for k, v in s.burn.items())
        left = f"{budget:.0f}% left" if budget > 0 else f"exhausted ({100 - budget:.0f}% spent)"
        lines += [
            f"{head} · actual {s.sli:.2f}% of {int(s.total):,} over {format_duration(s.window)}",
            f"   budget {_bar(budget)} {left}",
            f"   burn {rates}",
        ]
        exhausted_in = s.budget_exhausted_in
        if exhausted_in is not None:
            lines.append(f"   budget exhausted in {about(exhausted_in)} at the current burn")
        lines.append("")
    bad = [s for s in statuses if s.state in NEEDS_ATTENTION]
    if not statuses:
        lines.append("No SLOs configured.")
    elif bad:
        names = ", ".join(escape(s.name) for s in bad)
        icon = "🔥" if any(s.state == "page" for s in bad) else "⚠️"
        lines.append(f"Overall: {icon} {len(bad)} of {len(statuses)} SLOs need attention: {names}")
    else:
        lines.append(f"Overall: ✅ {len(statuses)} of {len(statuses)} SLOs within objective")
    return "\n".join(lines)


def detectors_parts(configs: list, default_every: float, max_parts: int = MAX_ANSWER_PARTS) -> list[str]:
    blocks = []
    for d in configs:
        every = format_duration(d.interval(default_every))
        extra = f" · for {d.for_}" if d.for_ > 1 else ""
        line = f"{SEVERITY_ICON[d.severity]} <b>{esc(d.name, NAME_UNITS)}</b> · {d.kind} · every {every}{extra}"
        blocks.append([line + (f"\n   {esc(d.description, 200)}" if d.description else "")])

    def footer(left_out: int) -> list[str]:
        return ["", f"…and {left_out:,} more detectors (the config file has them all)"] if left_out else []

    parts, _ = pack(blocks, head=[f"🔎 <b>Detectors</b> · {len(configs):,}", ""], footer=footer, max_parts=max_parts)
    return parts


SWEEP_LINES = 30  # failing results listed by /sweep; /health has the rest


def sweep_text(report: SweepReport) -> str:
    """At most SWEEP_LINES failing results of at most ~200 units: two messages at most."""
    failing = report.failing
    head = f"🧹 <b>Sweep</b>: {len(report.results):,} checks, {len(failing):,} failing"
    lines = [head]
    for r in failing[:SWEEP_LINES]:
        lines.append(f"{SEVERITY_ICON[r.severity]} {esc(r.message, 200)}")
    if len(failing) > SWEEP_LINES:
        lines.append(f"…and {len(failing) - SWEEP_LINES:,} more failing — /health")
    if not failing:
        lines.append("All detectors pass.")
    return "\n".join(lines)


RELOAD_NAMES = 10  # detector names listed per kind of change in a /reload answer


def config_rejected_text(path: str, errors: str, replica: str | None = None) -> str:
    """A config file a reload refused: its errors exactly as `opsbot check-config` prints them, in one
    message (the errors cut, with "…", when they are longer than a message)."""
    where = f" on replica {esc(replica, 100)}" if replica else ""
    head = (
        f"⚠️ <b>Config not reloaded</b>{where}: {esc(path, 200)} has errors; the running config stays.\n"
        "<code>opsbot check-config</code> says:\n"
    )
    room = TELEGRAM_LIMIT - u16(head) - len("<pre></pre>")
    return f"{head}<pre>{esc(errors, room)}</pre>"


def reload_text(outcome: ReloadOutcome) -> str:
    """The answer to /reload: what changed, or why nothing did."""
    if outcome.settings_error is not None:
        return f"⚠️ <b>Not reloaded</b>: {esc(outcome.settings_error, 1000)}. The running settings and config stay."
    if outcome.rejected is not None:
        return config_rejected_text(outcome.rejected.path, outcome.rejected.text)
    lines = ["🔄 <b>Reloaded</b>"]
    reloaded = outcome.config
    if reloaded is None:
        lines.append("The config came from no file: only the settings were re-read.")
    else:
        change = reloaded.change
        lines.append(f"Config {esc(reloaded.path, 200)} · <code>{reloaded.digest[:19]}…</code>")

        def names(what: str, found: list[str]) -> str:
            shown = ", ".join(esc(n, 64) for n in found[:RELOAD_NAMES])
            more = f" and {len(found) - RELOAD_NAMES} more" if len(found) > RELOAD_NAMES else ""
            return f"{len(found)} {what}" + (f" ({shown}{more})" if found else "")

        lines.append(
            "Detectors: "
            + ", ".join(
                (names("added", change.added), names("removed", change.removed), names("changed", change.changed))
            )
        )
        if change.sections:
            lines.append(f"Also changed: {', '.join(change.sections)}")
        elif change.empty:
            lines.append("Nothing in the config changed.")
        if reloaded.resolved:
            lines.append(f"{len(reloaded.resolved)} open alert(s) of removed detectors resolved.")
    if outcome.settings is not None:
        said = outcome.settings.summary()
        lines.append(esc(said[:1].upper() + said[1:], 600))
    return "\n".join(lines)


def describe_run(run: RunView) -> str:
    """The card's status line for a run: running, succeeded in 3.2 s, failed after 3 attempts."""
    who = run.actor or ("auto" if run.trigger == "auto" else run.trigger)
    if run.status == "running":
        return f"🛠 {run.action} running — {who}"
    seconds = (run.duration_ms or 0) / 1000
    if run.status == "success":
        took = f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)
        return f"✅ {run.action} succeeded in {took}"
    if run.status == "failed":
        return (
            f"❌ {run.action} failed after {run.attempts} attempt{'s' if run.attempts != 1 else ''}: {run.last_error}"
        )
    return f"⏸ {run.action} skipped: {run.last_error}"


def alert_ref(incident: Incident) -> str:
    """`alert 17 · incident #3`: the alert's id (for /ack) and its incident's (for /incident, /note)."""
    return f"alert {incident.id}" + (f" · incident #{incident.group_id}" if incident.group_id is not None else "")
