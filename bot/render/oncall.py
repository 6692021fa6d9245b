"""On call in words: /oncall, the handoff line, the private summary, who cannot be paged, the swap offer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.render.fit import esc
from bot.render.texts import SEVERITY_ICON
from ops.model import Severity
from ops.oncall.service import OnCallNow, Override

NAME_UNITS = 64
TITLE_UNITS = 130
ONCALL_USAGE = (
    "Usage: /oncall — who is on call · /oncall take [schedule] [duration] — take the shift now · "
    "/oncall swap @user [schedule] [duration] — offer it to another member (e.g. /oncall take 2h)"
)
NO_SCHEDULES = (
    "No on-call schedules: add them under <code>oncall:</code> in the config file "
    "(name, members, rotation, handoff, tz)."
)


def person(user_id: int, names: Mapping[int, str]) -> str:
    """`@username` (or the name) of someone who started the bot; `user 123` for someone who never did."""
    name = names.get(user_id)
    return esc(name, NAME_UNITS) if name else f"user <code>{user_id}</code>"


def at(ts: datetime, tz: str) -> str:
    """`Mon 30 Mar 07:00 UTC (09:00 CEST)`: UTC, and the schedule's wall clock when it has one of its own."""
    utc = f"{ts:%a %d %b %H:%M} UTC"
    if tz == "UTC":
        return utc
    local = ts.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))
    same_day = local.date() == ts.date()
    return f"{utc} ({local:%H:%M %Z}{'' if same_day else f' {local:%a}'}, {esc(tz, 40)})"


def schedule_text(state: OnCallNow, tz: str, overrides: list[Override], names: Mapping[int, str]) -> str:
    """One schedule in /oncall: who now and until when, who next and from when, its overrides."""
    lines = [f"<b>{esc(state.schedule, NAME_UNITS)}</b>: {person(state.member, names)} until {at(state.until, tz)}"]
    if state.override is not None:
        how = "took the shift" if state.override.kind == "take" else "swapped in"
        lines.append(f"  ↳ {how} (rotation: {person(state.shift.member, names)})")
    if state.override is not None and state.override.ends_at < state.shift.end:
        nxt, start = state.shift.member, state.override.ends_at
    else:
        nxt, start = state.next_shift.member, state.next_shift.start
    lines.append(f"  Next: {person(nxt, names)} from {at(start, tz)}")
    for o in overrides:
        if o.schedule != state.schedule or (state.override is not None and o.id == state.override.id):
            continue
        if o.status == "pending":
            lines.append(f"  Offered to {person(o.user_id, names)} (awaiting an answer) until {at(o.ends_at, tz)}")
        else:
            lines.append(f"  Override: {person(o.user_id, names)} from {at(o.starts_at, tz)} until {at(o.ends_at, tz)}")
    return "\n".join(lines)


def oncall_text(
    states: list[OnCallNow],
    tzs: Mapping[str, str],
    overrides: list[Override],
    names: Mapping[int, str],
    cannot: set[int],
) -> str:
    if not states:
        return NO_SCHEDULES
    parts = ["📟 <b>On call</b>"]
    parts += [schedule_text(s, tzs[s.schedule], overrides, names) for s in states]
    if cannot:
        who = ", ".join(person(m, names) for m in sorted(cannot))
        parts.append(f"⚠️ Cannot be paged yet: {who} — ask them to /start me in a private chat.")
    return "\n\n".join(parts)


def handoff_line(schedule: str, user_id: int, name: str, until: str, tz: str, override: bool, open_: int) -> str:
    who = person(user_id, {user_id: name} if name else {})
    count = "no open incidents" if open_ == 0 else f"{open_} open incident{'s' if open_ != 1 else ''}"
    line = f"🔁 On call now: {who} ({esc(schedule, NAME_UNITS)}) — {count}"
    if override and until:
        line += f" · until {at(datetime.fromisoformat(until), tz)}"
    return line


def summary_text(schedule: str, until: str, tz: str, incidents: list[dict[str, Any]], total: int) -> str:
    head = f"📟 You are on call for <b>{esc(schedule, NAME_UNITS)}</b>"
    if until:
        head += f" until {at(datetime.fromisoformat(until), tz)}"
    if total == 0:
        return f"{head}.\nNothing is open. /oncall shows the rotation."
    lines = [f"{head}.", f"<b>Open now: {total}</b>"]
    for i in incidents:
        icon = _icon(str(i.get("severity", "")))
        opened = i.get("opened_at")
        since = f" · since {datetime.fromisoformat(opened):%d %b %H:%M} UTC" if opened else ""
        lines.append(
            f"{icon} <b>{esc(str(i.get('title', '')), TITLE_UNITS)}</b> · {esc(str(i.get('status', '')), 20)}"
            f" · incident {int(i.get('id', 0))}{since}"
        )
    if total > len(incidents):
        lines.append(f"… and {total - len(incidents)} more.")
    return "\n".join(lines)


def _icon(severity: str) -> str:
    try:
        return SEVERITY_ICON[Severity(severity)]
    except ValueError:
        return "•"


def unpageable_text(members: list[dict[str, Any]]) -> str:
    lines = []
    for m in members:
        uid = int(m.get("user_id", 0))
        who = person(uid, {uid: str(m["name"])} if m.get("name") else {})
        schedules = ", ".join(esc(str(s), NAME_UNITS) for s in m.get("schedules", [])[:10])
        where = f" ({schedules})" if schedules else ""
        why = "blocked me" if m.get("blocked") else "never started me"
        lines.append(f"⚠️ {who}{where} cannot be paged ({why}): ask them to /start me in a private chat")
    return "\n".join(lines) or "Every on-call member can be paged."


def swap_offer_text(by: str, schedule: str, until: datetime, tz: str) -> str:
    return (
        f"🔁 {esc(by, NAME_UNITS)} offers you the on-call shift of <b>{esc(schedule, NAME_UNITS)}</b> "
        f"from now until {at(until, tz)}. Accept?"
    )
