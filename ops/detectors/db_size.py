"""`db_size`: bytes used by a target database (SQLite page_count × page_size, PostgreSQL pg_database_size)."""

from __future__ import annotations

from typing import Literal

from ops.config.fields import SizeAlertIf
from ops.config.kinds import DetectorBase
from ops.detectors.base import Check, result
from ops.model import CheckResult, CheckStatus
from ops.timeutil import format_size

_SIZE_QUERY = {
    "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "postgresql": "SELECT pg_database_size(current_database())",
}


class DbSizeDetector(DetectorBase):
    """Size of a target database in bytes; `alert_if` takes sizes like `5GB`."""

    kind: Literal["db_size"] = "db_size"
    target: str
    # Its measured values are kept (its check results, kept at least as long as its readers' `history`)
    # for an `anomaly` or `forecast` detector that names it: `detector: <this one>`.
    keep_history: bool = False
    alert_if: SizeAlertIf


class DbSizeCheck(Check[DbSizeDetector]):
    async def check(self) -> list[CheckResult]:
        cfg = self.config
        dialect = self.ctx.targets.dialect(cfg.target)
        query = _SIZE_QUERY.get(dialect)
        if query is None:
            return [result(cfg, "", CheckStatus.error, f"db_size does not support {dialect} targets")]
        _, rows = await self.ctx.targets.fetch(cfg.target, query, cfg.timeout)
        size = float(rows[0][0])
        failed = cfg.alert_if.fails(size)
        message = f"{cfg.target} database is {format_size(size)} (alert if {cfg.alert_if.text})"
        status = CheckStatus.fail if failed else CheckStatus.ok
        return [result(cfg, "", status, message, value=size, threshold=cfg.alert_if.text, unit="bytes")]
