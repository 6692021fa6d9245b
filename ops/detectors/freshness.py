"""`freshness`: the query returns a timestamp (or rows of key, timestamp); fails when too old."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from ops.config.fields import Duration
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.model import CheckResult, CheckStatus
from ops.timeutil import as_naive_utc, format_duration


class FreshnessDetector(DetectorBase):
    """`query` returns a timestamp (or rows of key, timestamp); fails when older than `max_age`."""

    kind: Literal["freshness"] = "freshness"
    target: str
    query: str
    max_age: Duration


class FreshnessCheck(Check[FreshnessDetector]):
    async def check(self) -> list[CheckResult]:
        cfg = self.config
        columns, rows = await self.ctx.targets.fetch(cfg.target, cfg.query, cfg.timeout)
        if len(columns) == 2 and rows:
            return [self._evaluate(str(key), ts) for key, ts in rows]
        if len(columns) not in (1, 2) or len(rows) > 1:
            return [
                result(
                    cfg,
                    "",
                    CheckStatus.error,
                    "query must return one timestamp, or rows of (key, timestamp)",
                )
            ]
        return [self._evaluate("", rows[0][-1] if rows else None)]

    def _evaluate(self, key: str, raw: Any) -> CheckResult:
        cfg = self.config
        where = f"{cfg.name}[{key}]" if key else cfg.name
        limit = f"max age {format_duration(cfg.max_age)}"
        if raw is None:
            # A missing timestamp means nothing ever arrived: that is stale, not "no data".
            return result(
                cfg,
                key,
                CheckStatus.fail,
                f"{where}: no timestamp at all ({limit})",
                threshold=limit,
            )
        ts = parse_timestamp(raw)
        if ts is None:
            return result(cfg, key, CheckStatus.error, f"{where}: {raw!r} is not a timestamp")
        age = (self.ctx.clock() - ts).total_seconds()
        status = CheckStatus.fail if age > cfg.max_age else CheckStatus.ok
        message = f"{where}: last update {format_duration(age)} ago ({limit})"
        return result(cfg, key, status, message, value=round(age, 3), threshold=limit, unit="s")


def parse_timestamp(raw: Any) -> datetime | None:
    """datetimes (naive = UTC), ISO strings as SQLite stores them, or Unix seconds."""
    if isinstance(raw, datetime):
        return as_naive_utc(raw)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, UTC).replace(tzinfo=None)
    if isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        try:
            return as_naive_utc(datetime.fromisoformat(text))
        except ValueError:
            try:
                return datetime.fromtimestamp(float(text), UTC).replace(tzinfo=None)
            except ValueError:
                return None
    return None
