"""The hourly rollup of check results (`ops_check_hourly`): written with the results, read by SLOs.

Counting good/total over a window reads whole hours from the rollup and only the partial hours at its
two ends from the raw results, so a 90-day window costs the same as a 2-hour one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ops.storage.tables import check_hourly, check_results


def hour_of(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


async def add(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Count freshly inserted check rows (dicts with detector, ts, ok) into their hours."""
    totals: Counter[tuple[str, datetime]] = Counter()
    goods: Counter[tuple[str, datetime]] = Counter()
    for row in rows:
        bucket = (row["detector"], hour_of(row["ts"]))
        totals[bucket] += 1
        goods[bucket] += 1 if row["ok"] else 0
    if not totals:
        return
    make = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    stmt = make(check_hourly)
    stmt = stmt.on_conflict_do_update(
        index_elements=[check_hourly.c.detector, check_hourly.c.hour],
        set_={"total": check_hourly.c.total + stmt.excluded.total, "good": check_hourly.c.good + stmt.excluded.good},
    )
    await conn.execute(
        stmt, [{"detector": d, "hour": h, "total": n, "good": goods[(d, h)]} for (d, h), n in totals.items()]
    )


async def rebuild(conn: AsyncConnection) -> None:
    """Recompute the rollup from the raw results (after history was imported by hand)."""
    rows = await conn.execute(select(check_results.c.detector, check_results.c.ts, check_results.c.ok))
    await conn.execute(delete(check_hourly))
    await add(conn, [{"detector": r.detector, "ts": r.ts, "ok": r.ok} for r in rows])


async def prune(conn: AsyncConnection, before: datetime) -> None:
    await conn.execute(delete(check_hourly).where(check_hourly.c.hour < hour_of(before)))


async def counts(conn: AsyncConnection, detector: str, since: datetime, until: datetime) -> tuple[float, float]:
    """(good, total) of a detector's checks in [since, until): one statement, whatever the window."""
    return (await counts_many(conn, detector, [(since, until)]))[0]


async def counts_many(
    conn: AsyncConnection, detector: str, windows: list[tuple[datetime, datetime]]
) -> list[tuple[float, float]]:
    """(good, total) for several windows of one detector in a single statement."""
    columns: list[Any] = []
    for since, until in windows:
        first = hour_of(since) + (timedelta(hours=1) if since != hour_of(since) else timedelta())
        last = hour_of(until)
        if first >= last:
            columns += _raw(detector, since, until) + [literal(0), literal(0)] * 2
            continue
        rolled = [check_hourly.c.detector == detector, check_hourly.c.hour >= first, check_hourly.c.hour < last]
        columns += _raw(detector, since, first) + _raw(detector, last, until)
        columns += [
            select(func.coalesce(func.sum(check_hourly.c.good), 0)).where(*rolled).scalar_subquery(),
            select(func.coalesce(func.sum(check_hourly.c.total), 0)).where(*rolled).scalar_subquery(),
        ]
    row = (await conn.execute(select(*columns))).one()
    out = []
    for i in range(len(windows)):
        values = [float(v or 0) for v in row[i * 6 : i * 6 + 6]]
        out.append((values[0] + values[2] + values[4], values[1] + values[3] + values[5]))
    return out


def _raw(detector: str, since: datetime, until: datetime) -> list[Any]:
    where = [check_results.c.detector == detector, check_results.c.ts >= since, check_results.c.ts < until]
    return [
        select(func.count()).where(*where, check_results.c.ok.is_(True)).scalar_subquery(),
        select(func.count()).where(*where).scalar_subquery(),
    ]
