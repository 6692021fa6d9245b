"""Marketplace back office (SQLite): sample data for examples/marketplace.yaml.

Tables: job_runs, cashflow_daily (+ view vw_cashflow_daily), commission_recon, sales, bloat,
orders_hourly (five weeks of orders per hour, with a day and a week season) and db_size_history (the shop
database's size each hour for the last 8 days), all relative to now.
States: `healthy`; `broken` (everything the detectors watch is wrong); `demo` (cash balance,
commission outliers, the sales feed, the last hours' orders and the database's growth are wrong — the
demo's story).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from sqlalchemy import insert

from examples._db import execute, run, utcnow
from ops.storage.db import create_engine
from ops.storage.tables import pings

DIALECT = "sqlite"
JOBS = ("ingest_wb", "ingest_ozon")
STATES = ("healthy", "broken", "demo")

SCHEMA = [
    "DROP VIEW IF EXISTS vw_cashflow_daily",
    "DROP TABLE IF EXISTS job_runs",
    "DROP TABLE IF EXISTS cashflow_daily",
    "DROP TABLE IF EXISTS commission_recon",
    "DROP TABLE IF EXISTS sales",
    "DROP TABLE IF EXISTS bloat",
    "DROP TABLE IF EXISTS orders_hourly",
    "DROP TABLE IF EXISTS db_size_history",
    "CREATE TABLE job_runs (job TEXT, scheduled_at TEXT, started_at TEXT, finished_at TEXT, status TEXT, error TEXT)",
    "CREATE TABLE cashflow_daily (d TEXT, marketplace TEXT, inflow REAL, outflow REAL)",
    """CREATE VIEW vw_cashflow_daily AS
       SELECT d, marketplace, SUM(inflow - outflow) OVER (PARTITION BY marketplace ORDER BY d) AS balance
       FROM cashflow_daily""",
    "CREATE TABLE commission_recon (d TEXT, marketplace TEXT, sku TEXT, expected REAL, actual REAL)",
    "CREATE TABLE sales (ts TEXT, marketplace TEXT, sku TEXT, qty INTEGER, amount REAL)",
    "CREATE TABLE bloat (blob TEXT)",
    "CREATE TABLE orders_hourly (hour TEXT PRIMARY KEY, orders INTEGER)",  # hour: its start, UTC
    "CREATE TABLE db_size_history (ts TEXT PRIMARY KEY, bytes INTEGER)",
]
ORDER_WEEKS = 5
DIP_HOURS = 3  # the newest hours whose orders fell (broken, demo): to a quarter of normal
DAY_SHAPE = (  # orders per hour relative to the day's mean, 00:00 … 23:00 UTC
    0.6, 0.5, 0.45, 0.45, 0.5, 0.6, 0.75, 0.9, 1.05, 1.15, 1.2, 1.25,
    1.3, 1.25, 1.2, 1.15, 1.15, 1.2, 1.3, 1.4, 1.45, 1.35, 1.05, 0.8,
)  # fmt: skip
WEEK_SHAPE = (0.95, 0.95, 1.0, 1.0, 1.1, 1.25, 1.2)  # Monday … Sunday
GIB = 1_000_000_000


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def orders_hourly(now: datetime, rng: random.Random, dip: bool) -> list[dict[str, Any]]:
    """Orders per whole hour for the last ORDER_WEEKS weeks, up to the last hour that ended: ~1,000 an hour
    shaped by the hour of day and the day of week, 4 % noise; with `dip`, the newest DIP_HOURS at a quarter."""
    last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    rows = []
    for back in range(ORDER_WEEKS * 7 * 24 - 1, -1, -1):
        hour = last - timedelta(hours=back)
        mean = 1000 * DAY_SHAPE[hour.hour] * WEEK_SHAPE[hour.weekday()]
        orders = mean * (1 + rng.gauss(0, 0.04)) * (0.25 if dip and back < DIP_HOURS else 1)
        rows.append({"h": _ts(hour), "n": max(0, round(orders))})
    return rows


def db_size_history(now: datetime, rng: random.Random, growing: bool) -> list[dict[str, Any]]:
    """The shop database's size each hour for the last 8 days: growing 0.25 GB a day towards 5 GB (4.6 GB
    now: it gets there in about a day and a half), or steady near 2.1 GB."""
    rows = []
    for back in range(8 * 24, -1, -1):
        days = back / 24
        size = (4.6 - 0.25 * days) * GIB if growing else (2.1 - 0.002 * days) * GIB
        size += rng.gauss(0, 0.004 * GIB) + 0.01 * GIB * math.sin(2 * math.pi * days)  # nightly clean-ups
        rows.append({"ts": _ts(now - timedelta(hours=back, minutes=5)), "b": round(size)})
    return rows


def env(url: str, metrics_url: str = "http://127.0.0.1:8000/metrics") -> dict[str, str]:
    """What marketplace.yaml needs besides opsbot's own settings."""
    return {"SHOP_URL": url, "APP_METRICS_URL": metrics_url}


async def seed(url: str, state: str) -> None:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    rng = random.Random(17)
    now = utcnow()
    broken = state == "broken"
    runs = []
    for i in range(144):  # every 10 minutes for a day
        slot = now - timedelta(minutes=10 * i + 1)
        for job in (*JOBS, "report_daily"):
            late = rng.randint(400, 900) if broken and i % 3 == 0 else rng.randint(0, 90)
            started = slot + timedelta(seconds=late)
            failed = broken and job == "ingest_ozon" and i < 6
            runs.append(
                {
                    "job": job,
                    "s": _ts(slot),
                    "st": _ts(started),
                    "f": _ts(started + timedelta(seconds=40)),
                    "status": "failed" if failed else "success",
                    "e": "HTTP 401 from the marketplace API" if failed else None,
                }
            )
    flows = []
    for day in range(30, -1, -1):
        d = (now - timedelta(days=day)).date().isoformat()
        flows.append({"d": d, "mp": "wb", "i": 52000 + rng.randint(-3000, 3000), "o": 47000 + rng.randint(-3000, 3000)})
        short = state != "healthy" and day <= 7  # settlements stopped arriving a week ago
        flows.append(
            {
                "d": d,
                "mp": "ozon",
                "i": (9000 if short else 38000) + rng.randint(-500, 500),
                "o": 36000 + rng.randint(-900, 900),
            }
        )
    recon = []
    for i in range(120):
        expected = round(rng.uniform(50, 400), 2)
        off = state != "healthy" and i < 8  # a category change: eight lines off by 6-15 %
        actual = expected * (1 + (rng.uniform(0.06, 0.15) if off else rng.uniform(-0.02, 0.02)))
        recon.append(
            {
                "d": (now - timedelta(days=i % 7)).date().isoformat(),
                "mp": rng.choice(["wb", "ozon"]),
                "sku": f"SKU-{1000 + i}",
                "e": expected,
                "a": round(actual, 2),
            }
        )
    gap = timedelta(hours=2) if state != "healthy" else timedelta(minutes=1)  # the sales feed stalled
    sales = [
        {
            "ts": _ts(now - gap - timedelta(minutes=3 * i)),
            "mp": rng.choice(["wb", "ozon"]),
            "sku": f"SKU-{rng.randint(1000, 1100)}",
            "q": 1,
            "a": round(rng.uniform(300, 3000), 2),
        }
        for i in range(400)
    ]
    bloat = [{"b": "x" * 4000} for _ in range(250 if broken else 0)]  # about 1 MB of growth
    orders = orders_hourly(now, rng, dip=state != "healthy")
    sizes = db_size_history(now, rng, growing=state != "healthy")
    await run(
        url,
        SCHEMA,
        [
            ("INSERT INTO job_runs VALUES (:job, :s, :st, :f, :status, :e)", runs),
            ("INSERT INTO cashflow_daily VALUES (:d, :mp, :i, :o)", flows),
            ("INSERT INTO commission_recon VALUES (:d, :mp, :sku, :e, :a)", recon),
            ("INSERT INTO sales VALUES (:ts, :mp, :sku, :q, :a)", sales),
            ("INSERT INTO bloat VALUES (:b)", bloat),
            ("INSERT INTO orders_hourly VALUES (:h, :n)", orders),
            ("INSERT INTO db_size_history VALUES (:ts, :b)", sizes),
        ],
    )


async def fix(url: str) -> str:
    """The sales feed is repaired: fresh sales arrive. Returns the detector this fixes."""
    now = utcnow()
    for seconds in (40, 20, 5):
        await execute(
            url,
            "INSERT INTO sales VALUES (:ts, 'wb', 'SKU-1042', 1, 1290.0)",
            {"ts": _ts(now - timedelta(seconds=seconds))},
        )
    return "sales_freshness"


STORY = {"ack": "cash_balance", "fix": "sales_freshness"}


async def seed_pings(ops_database_url: str, state: str) -> None:
    """Each job's heartbeat: recent successes when healthy. In `broken`: ozon's ingestion went
    silent an hour ago, wb's started 40 minutes ago and never finished, and the daily report's
    last run pinged /fail."""
    now = utcnow()
    broken = state == "broken"
    rows: list[dict[str, Any]] = []
    for job in JOBS:
        silent = broken and job == "ingest_ozon"
        ts = now - (timedelta(hours=1) if silent else timedelta(minutes=2 if not broken else 50))
        rows.append({"ts": ts, "detector": f"heartbeat_{job}", "kind": "success", "body": None, "source": "seed"})
    if broken:
        rows.append(
            {
                "ts": now - timedelta(minutes=40),
                "detector": "heartbeat_ingest_wb",
                "kind": "start",
                "body": None,
                "source": "seed",
            }
        )
    last_report = now.replace(hour=6, minute=2, second=0)
    if last_report > now:
        last_report -= timedelta(days=1)
    kind = "fail" if state == "broken" else "success"
    body = "report_daily: upstream table empty" if state == "broken" else None
    rows.append({"ts": last_report, "detector": "heartbeat_report_daily", "kind": kind, "body": body, "source": "seed"})
    engine = create_engine(ops_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(pings), rows)
    finally:
        await engine.dispose()


def latency_app(state: str) -> web.Application:
    """The shop's API as Prometheus sees it: every scrape follows a burst of requests, fast when
    healthy (~200 ms), slow when broken (~1.9 s)."""
    registry = CollectorRegistry()
    latency = Histogram(
        "http_request_duration_seconds",
        "API request latency",
        ["handler"],
        registry=registry,
        buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    )
    rng = random.Random(5)
    slow = state == "broken"

    async def metrics(_request: web.Request) -> web.Response:
        for _ in range(200):
            seconds = rng.uniform(1.5, 2.4) if slow else rng.uniform(0.08, 0.3)
            latency.labels("/api").observe(seconds)
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app
