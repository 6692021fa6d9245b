"""UTC time, durations (`90s`, `5m`, `1h`, `30d`) and sizes (`5GB`) as people write them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
_SIZE_FACTOR = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def utcnow() -> datetime:
    """Naive UTC: every timestamp in the database is naive UTC, on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_duration(value: str | int | float) -> float:
    """Seconds from `90s`, `5m`, `1h`, `30d`, `1200ms` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 5m, 1h or 30d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration like 90s, 5m, 1h or 30d, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_size(value: str | int | float) -> float:
    """Bytes from `5GB`, `512MiB` or a bare number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size like 500MB or 5GB, got {value!r}")
    return float(match.group(1)) * _SIZE_FACTOR[(match.group(2) or "b").lower()]


def format_duration(seconds: float) -> str:
    """`2h 10m`, `12m`, `45s`, `3d 4h`: the two largest units, for people."""
    seconds = int(max(0, round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def format_size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(num_bytes) < 1000 or unit == "TB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes:.1f} TB"


def age_seconds(then: datetime, now: datetime) -> float:
    return (now - then).total_seconds()


def as_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def since(now: datetime, seconds: float) -> datetime:
    return now - timedelta(seconds=seconds)
