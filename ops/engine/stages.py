"""The mute stages: each answers one question — is this alert muted now, and by what?

They are asked when a notification is about to be queued (`AlertEngine`) and again on every housekeeping
tick (`Pipeline.tick`), so a silence that ends, a window that closes, a parent that recovers or an alert
that stops flapping is noticed by the same answer that muted it. As in Alertmanager's notify pipeline,
muting is decided here, ahead of routing and delivery, which know nothing of silences.

A stage is prepared once per transaction (it reads what it needs: the active silences, the firing
parents) and then answers for any number of alerts from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.config.current import CurrentConfig
from ops.config.models import OpsConfig
from ops.config.schedules import next_run_after, parse_cron
from ops.model import Mute, MuteKind
from ops.settings import Settings
from ops.storage.tables import alert_state, alerts_history, silences


@dataclass(frozen=True)
class AlertView:
    """What the stages look at: the alert's identity and labels, and its flap state."""

    detector: str
    fingerprint: str
    labels: Mapping[str, str]
    flapping_since: datetime | None = None
    last_change: datetime | None = None


Asker = Callable[[AlertView], Mute | None]


class MuteStage(Protocol):
    async def prepare(self, conn: AsyncConnection, now: datetime) -> Asker: ...


@dataclass(frozen=True)
class Silence:
    id: int
    kind: str  # detector | fingerprint | label
    label: str | None
    value: str
    ends_at: datetime | None
    incident_id: int | None
    reason: str | None
    created_by: str | None
    created_at: datetime

    def matches(self, detector: str, fingerprint: str, labels: dict[str, str]) -> bool:
        if self.kind == "detector":
            return detector == self.value
        if self.kind == "fingerprint":
            return fingerprint.startswith(self.value)
        return self.label is not None and labels.get(self.label) == self.value

    @property
    def target(self) -> str:
        if self.kind == "fingerprint":
            return f"#{self.value[:8]}"
        if self.kind == "label":
            return f"{self.label}={self.value}"
        return self.value


def silence_from_row(r: Any) -> Silence:
    return Silence(r.id, r.kind, r.label, r.value, r.ends_at, r.incident_id, r.reason, r.created_by, r.created_at)


async def active_silences(conn: AsyncConnection, now: datetime) -> list[Silence]:
    """Silences in force at `now`: not expired, not past their end, their incident (if any) still open."""
    resolved = select(alerts_history.c.id).where(alerts_history.c.status == "resolved")
    query = (
        select(silences)
        .where(
            silences.c.expired_at.is_(None),
            or_(silences.c.ends_at.is_(None), silences.c.ends_at > now),
            or_(silences.c.incident_id.is_(None), silences.c.incident_id.not_in(resolved)),
        )
        .order_by(silences.c.id)
    )
    return [silence_from_row(r) for r in await conn.execute(query)]


class Inhibition:
    """A detector whose `depends_on` has an open alert is inhibited by it (the first one, in order)."""

    def __init__(self, current: CurrentConfig) -> None:
        self.current = current

    async def prepare(self, conn: AsyncConnection, now: datetime) -> Asker:
        parents = self.current.derived("inhibition", _parents)
        if not parents:
            return lambda alert: None
        wanted = sorted({p for names in parents.values() for p in names})
        firing = set(
            (
                await conn.execute(
                    select(alert_state.c.detector)
                    .where(alert_state.c.detector.in_(wanted), alert_state.c.incident_id.is_not(None))
                    .distinct()
                )
            ).scalars()
        )

        def ask(alert: AlertView) -> Mute | None:
            for parent in parents.get(alert.detector, ()):
                if parent in firing:
                    return Mute(MuteKind.inhibited, parent)
            return None

        return ask


def _parents(config: OpsConfig) -> dict[str, list[str]]:
    return {d.name: list(d.depends_on) for d in config.detectors if getattr(d, "depends_on", None)}


class Maintenance:
    """A maintenance window is open for the alert's detector."""

    def __init__(self, current: CurrentConfig) -> None:
        self.current = current

    async def prepare(self, conn: AsyncConnection, now: datetime) -> Asker:
        open_for: dict[str, str] = {}
        windows = self.current.derived(
            "maintenance_windows", lambda c: [(w, parse_cron(w.cron, w.tz)) for w in c.maintenance]
        )
        for window, trigger in windows:
            start = next_run_after(trigger, now - timedelta(seconds=window.duration))
            if start is not None and start <= now:
                for detector in window.detectors:
                    open_for.setdefault(detector, window.cron)

        def ask(alert: AlertView) -> Mute | None:
            cron = open_for.get(alert.detector)
            return Mute(MuteKind.maintenance, cron) if cron is not None else None

        return ask


class Silences:
    """An active silence matches the alert (by detector, fingerprint or label)."""

    async def prepare(self, conn: AsyncConnection, now: datetime) -> Asker:
        active = await active_silences(conn, now)

        def ask(alert: AlertView) -> Mute | None:
            for silence in active:
                if silence.matches(alert.detector, alert.fingerprint, dict(alert.labels)):
                    return Mute(MuteKind.silenced, str(silence.id))
            return None

        return ask


class Flapping:
    """It changed state more than FLAP_THRESHOLD times within FLAP_WINDOW and has not yet kept one state
    for FLAP_SETTLE."""

    def __init__(self, settings: Settings) -> None:
        self.settle = timedelta(seconds=settings.flap_settle)

    async def prepare(self, conn: AsyncConnection, now: datetime) -> Asker:
        def ask(alert: AlertView) -> Mute | None:
            if alert.flapping_since is None or self.settled(alert, now):
                return None
            return Mute(MuteKind.flapping, alert.flapping_since.isoformat())

        return ask

    def settled(self, alert: AlertView, now: datetime) -> bool:
        return alert.last_change is None or now - alert.last_change >= self.settle


class Muting:
    """The stages prepared for one moment: `of(alert)` is the first stage's answer that mutes it."""

    def __init__(self, askers: list[Asker]) -> None:
        self.askers = askers

    def of(self, alert: AlertView) -> Mute | None:
        for ask in self.askers:
            mute = ask(alert)
            if mute is not None:
                return mute
        return None


class MuteStages:
    """The stages in the order they are asked; to add one, write a class with `prepare` and list it here."""

    def __init__(self, current: CurrentConfig, settings: Settings) -> None:
        self.flapping = Flapping(settings)
        self.stages: list[MuteStage] = [Inhibition(current), Maintenance(current), Silences(), self.flapping]

    async def prepare(self, conn: AsyncConnection, now: datetime) -> Muting:
        return Muting([await stage.prepare(conn, now) for stage in self.stages])
