"""What opsbot tells a chat: one closed set of notification types, each with typed fields.

The outbox stores a notification as its `kind` and its fields (JSON); bot/ renders each type through one
registry (`bot.render.notifications`), and a test fails when a type has no renderer. No text is written
here: a type carries the facts, the renderer chooses the words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, get_type_hints

from ops.model import MuteKind, Severity

NOTIFICATIONS: dict[str, type[Notification]] = {}


class UnknownNotification(ValueError):
    """An outbox row of a kind (or with fields) this version does not know."""


@dataclass(frozen=True)
class Notification:
    """One thing to tell one chat. `digestible`: in a storm it may become one line of a digest.
    `incident`: it is about an alert (a reply to the alert's card where the chat has one)."""

    kind: ClassVar[str] = ""
    digestible: ClassVar[bool] = False
    incident: ClassVar[bool] = True

    @property
    def pages(self) -> bool:
        """Sent by an escalation policy (a personal page, the admins' copy, a page that failed): it must
        be heard, whatever quiet hours say."""
        return False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            if cls.kind in NOTIFICATIONS:
                raise TypeError(f"notification kind {cls.kind!r} is defined twice")
            NOTIFICATIONS[cls.kind] = cls

    def payload(self) -> dict[str, Any]:
        return {k: v.value if isinstance(v, Enum) else v for k, v in dataclasses.asdict(self).items()}


def parse(kind: str, payload: dict[str, Any]) -> Notification:
    """The notification an outbox row holds."""
    cls = NOTIFICATIONS.get(kind)
    if cls is None:
        raise UnknownNotification(f"unknown notification kind {kind!r}")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in payload:
            continue
        value, hint = payload[f.name], hints[f.name]
        if isinstance(hint, type) and issubclass(hint, Enum):
            try:
                value = hint(value)
            except ValueError:
                raise UnknownNotification(f"{kind}: {f.name}={value!r} is not a {hint.__name__}") from None
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise UnknownNotification(f"{kind}: {exc}") from None


@dataclass(frozen=True)
class AlertCard(Notification):
    """The alert's card (edited in place as the alert changes). Why it goes now, besides firing: a copy
    with its full context for the admins (`notify_admin`), escalated by a policy step (to the admins, the
    routed chats, or — with `schedule` — a personal page of whoever is on call for it, in private, after
    `after` seconds unacknowledged), or the first card of an alert that fired while flapping, muted or
    inhibited."""

    kind: ClassVar[str] = "alert"
    digestible: ClassVar[bool] = True
    context: bool = False
    escalated: bool = False
    settled: bool = False
    schedule: str = ""  # a personal page: the on-call schedule its person is paged for
    after: float = 0.0

    @property
    def pages(self) -> bool:
        return self.escalated

    @property
    def personal(self) -> bool:
        """A page in the private chat of whoever is on call (it carries the Escalate-now button)."""
        return bool(self.schedule)


@dataclass(frozen=True)
class CardRefresh(Notification):
    """Edit the alert's card in this chat to show the alert as it is now (not a new message)."""

    kind: ClassVar[str] = "refresh"


@dataclass(frozen=True)
class Resolved(Notification):
    kind: ClassVar[str] = "resolved"
    digestible: ClassVar[bool] = True
    message: str = ""


@dataclass(frozen=True)
class FiredAgain(Notification):
    """Fired again within the dedup window: the same incident reopened, and a reply says so, because the
    last message in the chat says it was resolved."""

    kind: ClassVar[str] = "fired_again"
    digestible: ClassVar[bool] = True
    message: str = ""


@dataclass(frozen=True)
class Reminder(Notification):
    kind: ClassVar[str] = "reminder"
    digestible: ClassVar[bool] = True


@dataclass(frozen=True)
class SeverityRaised(Notification):
    kind: ClassVar[str] = "raised"
    digestible: ClassVar[bool] = True
    previous: Severity = Severity.info


@dataclass(frozen=True)
class Escalated(Notification):
    """Unacknowledged for `after` seconds: a policy step's chats (the admins, the routed chats, a person
    paged again) get the card where they lack it and this reply."""

    kind: ClassVar[str] = "escalated"
    digestible: ClassVar[bool] = True
    after: float = 0.0

    @property
    def pages(self) -> bool:
        return True


@dataclass(frozen=True)
class PageFailed(Notification):
    """A policy step could not page whoever is on call for `schedule` (`user_id`, shown as `name`):
    `reason` is `unknown` (never started the bot in private) or `blocked` (blocked the bot). The admins
    are told; the policy goes on to its next step at its time."""

    kind: ClassVar[str] = "page_failed"
    step: int = 0
    schedule: str = ""
    user_id: int = 0
    name: str = ""
    reason: str = "unknown"

    @property
    def pages(self) -> bool:
        return True


@dataclass(frozen=True)
class FlappingStarted(Notification):
    kind: ClassVar[str] = "flapping"
    digestible: ClassVar[bool] = True
    changes: int = 0
    window: float = 0.0


@dataclass(frozen=True)
class FlappingSettled(Notification):
    """It kept one state for FLAP_SETTLE: where it ended (still firing, or resolved)."""

    kind: ClassVar[str] = "settled"
    digestible: ClassVar[bool] = True
    firing: bool = True


@dataclass(frozen=True)
class Unmuted(Notification):
    """What muted it (a silence, a maintenance window, a firing parent) has ended and it still fires."""

    kind: ClassVar[str] = "unmuted"
    digestible: ClassVar[bool] = True
    mute: MuteKind = MuteKind.silenced


@dataclass(frozen=True)
class RemediationResult(Notification):
    kind: ClassVar[str] = "remediation"
    run_id: int = 0


@dataclass(frozen=True)
class Rechecked(Notification):
    """The detector ran again after a successful remediation: whether its checks pass now."""

    kind: ClassVar[str] = "rechecked"
    action: str = ""
    passes: bool = False
    message: str = ""


@dataclass(frozen=True)
class RemediationPaused(Notification):
    """Automatic remediation skipped: the action ran `runs` times in the last hour (its budget)."""

    kind: ClassVar[str] = "paused"
    action: str = ""
    runs: int = 0


@dataclass(frozen=True)
class SloReport(Notification):
    """The weekly SLO report (not about one alert)."""

    kind: ClassVar[str] = "slo_report"
    incident: ClassVar[bool] = False
    due: str = ""


@dataclass(frozen=True)
class ConfigRejected(Notification):
    """A reload refused the config file: its errors exactly as `opsbot check-config` prints them."""

    kind: ClassVar[str] = "config_rejected"
    incident: ClassVar[bool] = False
    path: str = ""
    errors: str = ""
    replica: str | None = None


@dataclass(frozen=True)
class OnCallHandoff(Notification):
    """To the alert chats: `user_id` (`name`: their @username or name, "" when unknown) is on call for
    `schedule` now, until `until` (ISO, UTC); `override`: by a take or an accepted swap."""

    kind: ClassVar[str] = "oncall_handoff"
    incident: ClassVar[bool] = False
    schedule: str = ""
    user_id: int = 0
    name: str = ""
    until: str = ""
    tz: str = "UTC"
    override: bool = False
    open_incidents: int = 0


@dataclass(frozen=True)
class OnCallSummary(Notification):
    """To the person now on call, in private: what is open. `incidents`: the oldest ones, each
    {id, title, severity, status, opened_at (ISO, UTC)}; `total`: how many are open in all."""

    kind: ClassVar[str] = "oncall_summary"
    incident: ClassVar[bool] = False
    schedule: str = ""
    until: str = ""
    tz: str = "UTC"
    incidents: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class Unpageable(Notification):
    """To the admin chats: members of on-call schedules who cannot be paged in private — they never
    started the bot, or blocked it. `members`: each {user_id, name ("" when unknown), blocked, schedules}."""

    kind: ClassVar[str] = "unpageable"
    incident: ClassVar[bool] = False
    members: list[dict[str, Any]] = dataclasses.field(default_factory=list)
