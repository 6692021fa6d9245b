"""`sql`: the query returns one number, or rows of (key, number) each checked on its own.

A query may name `:until`, the moment it is run for (now, or a past moment in `opsbot backtest`): a query
that reads its table as of `:until` can be asked about the past, and so replayed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from ops.config.fields import AlertIf
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.model import CheckResult, CheckStatus


class SqlDetector(DetectorBase):
    """`query` returns one value, or rows of (key, value): each key is checked on its own."""

    kind: Literal["sql"] = "sql"
    target: str
    query: str
    alert_if: AlertIf


class SqlCheck(Check[SqlDetector]):
    async def check(self) -> list[CheckResult]:
        cfg = self.config
        params = {}
        if uses_until(cfg.query):  # the moment it is asked about: now, or a step of a backtest
            params = time_params(self.ctx.targets.dialect(cfg.target), until=self.ctx.clock())
        columns, rows = await self.ctx.targets.fetch(cfg.target, cfg.query, cfg.timeout, params)
        if len(columns) == 1:
            if len(rows) > 1:
                return [
                    result(
                        cfg,
                        "",
                        CheckStatus.error,
                        f"query returned {len(rows)} rows of one column; return one value, or (key, value) rows",
                    )
                ]
            return [self._evaluate("", rows[0][0] if rows else None)]
        if len(columns) == 2:
            if not rows:
                return [self._evaluate("", None)]
            return [self._evaluate(str(key), value) for key, value in rows]
        return [
            result(
                cfg,
                "",
                CheckStatus.error,
                f"query returned {len(columns)} columns; expected one value or (key, value) rows",
            )
        ]

    def _evaluate(self, key: str, raw: Any) -> CheckResult:
        cfg = self.config
        cond = cfg.alert_if
        where = f"{cfg.name}[{key}]" if key else cfg.name
        if raw is None:
            return result(cfg, key, CheckStatus.no_data, f"{where}: no data", threshold=cond.text)
        value = to_number(raw)
        if value is None:
            return result(
                cfg,
                key,
                CheckStatus.error,
                f"{where}: value {raw!r} is not a number",
                threshold=cond.text,
            )
        failed = cond.fails(value)
        verdict = f"alert if {cond.text}"
        message = f"{where} = {format_number(value)} ({verdict})"
        status = CheckStatus.fail if failed else CheckStatus.ok
        return result(cfg, key, status, message, value=value, threshold=cond.text)


# A bind parameter as SQLAlchemy's `text()` reads one: `:name`, not a PostgreSQL cast (`::date`), not `\\:`.
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


def bind_names(query: str) -> set[str]:
    """The `:name` parameters a query uses."""
    return set(_BIND.findall(query))


def uses_until(query: str) -> bool:
    return "until" in bind_names(query)


def time_params(dialect: str, **moments: datetime) -> dict[str, Any]:
    """`:since`/`:until` in the form a target compares its timestamps with, as the SLO queries get them:
    text `YYYY-MM-DD HH:MM:SS` on SQLite (which keeps timestamps as text), an aware UTC datetime elsewhere."""
    if dialect == "sqlite":
        return {name: at.strftime("%Y-%m-%d %H:%M:%S") for name, at in moments.items()}
    return {name: at.replace(tzinfo=UTC) if at.tzinfo is None else at for name, at in moments.items()}


def to_number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float | Decimal):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
