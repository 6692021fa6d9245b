"""Plain types the whole domain shares: severities, check results, incidents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class Severity(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2, Severity.critical: 3}


class CheckStatus(str, Enum):
    ok = "ok"
    fail = "fail"
    error = "error"  # the detector could not measure (exception, timeout, bad data)
    no_data = "no_data"


class IncidentStatus(str, Enum):
    firing = "firing"
    acknowledged = "acknowledged"
    resolved = "resolved"


class MuteKind(str, Enum):
    """What mutes an alert, in the order the stages ask (the first that mutes wins)."""

    inhibited = "inhibited"  # a detector it `depends_on` is firing
    maintenance = "maintenance"  # a maintenance window is open
    silenced = "silenced"  # a silence matches it
    flapping = "flapping"  # it keeps changing state


@dataclass(frozen=True)
class Mute:
    """One stage's answer: the kind, and by what (the parent detector, the window's cron, the silence's
    id, the time it started flapping). Stored as two columns of the incident while it holds."""

    kind: MuteKind
    by: str

    @classmethod
    def stored(cls, kind: str | None, by: str | None) -> Mute | None:
        """From the incident's columns; a kind this version does not know reads as not muted."""
        if not kind:
            return None
        try:
            return cls(MuteKind(kind), by or "")
        except ValueError:
            return None


def fingerprint(detector: str, key: str) -> str:
    """Stable identity of one alert: the detector plus the key it checked."""
    return hashlib.sha256(f"{detector}\x00{key}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckResult:
    detector: str
    key: str
    status: CheckStatus
    severity: Severity
    message: str
    value: float | None = None
    threshold: str | None = None
    duration_ms: float = 0.0
    error: str | None = None
    alert_on_no_data: bool = False
    unit: str | None = None  # "s" (an age) or "bytes"; None: a plain number
    # The range the value was expected in, (low, high), for kinds that learn one (anomaly): what
    # `/backtest`'s chart draws as the band. None: the kind has a fixed threshold instead.
    expected: tuple[float, float] | None = None

    @classmethod
    def detector_error(cls, detector: str, message: str, *, error: str, duration_ms: float = 0.0) -> CheckResult:
        """The one result of a detector that could not measure (or whose results could not be processed):
        an error on its empty key, alerted like any failure, its message naming the detector."""
        return cls(
            detector=detector,
            key="",
            status=CheckStatus.error,
            severity=Severity.error,
            message=f"{detector}: {message}",
            duration_ms=duration_ms,
            error=error,
        )

    @property
    def ok(self) -> bool:
        """Whether the check counts as passing for the alert engine."""
        if self.status is CheckStatus.no_data:
            return not self.alert_on_no_data
        return self.status is CheckStatus.ok

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.detector, self.key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "key": self.key,
            "ok": self.ok,
            "status": self.status.value,
            "severity": self.severity.value,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class Actor:
    """Who did something: a Telegram user, or the system (`check`, `scheduler`, `cli`)."""

    id: int | None
    name: str

    @property
    def label(self) -> str:
        return self.name if self.id is None else f"{self.name} ({self.id})"


SYSTEM = Actor(None, "system")


@dataclass
class Incident:
    id: int
    fingerprint: str
    source: str
    key: str
    severity: Severity
    message: str
    status: IncidentStatus
    opened_at: datetime
    last_notified_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    notification_count: int
    extras: dict[str, Any] = field(default_factory=dict)
    muted: Mute | None = None  # what keeps it from notifying now (a silence, a window, a parent, flapping)
    group_id: int | None = None  # the incident (ops.incidents) it belongs to

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:8]

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.resolved
