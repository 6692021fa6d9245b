"""The demo's marketplace: job runs, cash flow, commission reconciliation, sales — with failures.

Broken on purpose: one marketplace's cash balance is deeply negative, eight commission lines are
off by more than 5 %, and sales stopped arriving two hours ago. Healthy: ingestion success rate,
scheduler punctuality, database size.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"

CONFIG = """\
# opsbot demo config: the marketplace back office.
targets:
  shop: "sqlite+aiosqlite:///{shop}"
detectors:
  - name: cash_balance
    description: Running balance per marketplace on the latest day
    kind: sql
    target: shop
    query: >-
      SELECT marketplace, balance FROM vw_cashflow_daily
      WHERE d = (SELECT MAX(d) FROM vw_cashflow_daily) ORDER BY marketplace
    alert_if: "< ${{CF_NEGATIVE_BALANCE_ALERT_THRESHOLD}}"
    severity: critical
    every: 1m
    runbook: runbooks/cash-balance.md
    labels: {{team: finance}}
  - name: ingest_success_rate
    description: Ingestion runs that succeeded in the last hour, percent
    kind: sql
    target: shop
    query: >-
      SELECT 100.0 * SUM(status = 'success') / COUNT(*) FROM job_runs
      WHERE job LIKE 'ingest_%' AND started_at >= datetime('now', '-1 hour')
    alert_if: "< ${{SLO_INGEST_SUCCESS_RATE_PCT}}"
    severity: error
    every: 1m
    runbook: runbooks/ingest-success-rate.md
    labels: {{team: data}}
  - name: scheduler_on_time
    description: Job runs in the last day that started within 5 minutes of their slot, percent
    kind: sql
    target: shop
    query: >-
      SELECT 100.0 * SUM((julianday(started_at) - julianday(scheduled_at)) * 86400 <= 300) / COUNT(*)
      FROM job_runs WHERE started_at >= datetime('now', '-1 day')
    alert_if: "< ${{SLO_SCHEDULER_ON_TIME_PCT}}"
    severity: warning
    every: 1m
    runbook: runbooks/scheduler-on-time.md
  - name: commission_outliers
    description: Commission lines off by more than 5 % in the last 7 days
    kind: sql
    target: shop
    query: >-
      SELECT COUNT(*) FROM commission_recon
      WHERE d >= date('now', '-7 days') AND ABS(actual - expected) > 0.05 * expected
    alert_if: "> 5"
    severity: warning
    every: 1m
    runbook: runbooks/commission-outliers.md
    labels: {{team: finance}}
  - name: sales_freshness
    description: Age of the newest sale
    kind: freshness
    target: shop
    query: SELECT MAX(ts) FROM sales
    max_age: 15m
    severity: error
    every: 1m
    runbook: runbooks/sales-freshness.md
    labels: {{team: data}}
  - name: db_growth
    description: Size of the shop database
    kind: db_size
    target: shop
    alert_if: "> 5GB"
    every: 1m
    runbook: runbooks/db-growth.md
"""


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def create_workspace(directory: Path) -> dict[str, Path]:
    """A fresh workspace: the shop database, runbooks, and the config. Old demo files are replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("shop.db", "opsbot.db", "opsbot.db-wal", "opsbot.db-shm", "shop.db-wal", "shop.db-shm"):
        (directory / name).unlink(missing_ok=True)
    shutil.copytree(RUNBOOKS, directory / "runbooks", dirs_exist_ok=True)
    shop = directory / "shop.db"
    _seed_shop(shop)
    config = directory / "opsbot.yaml"
    config.write_text(CONFIG.format(shop=shop.resolve()), encoding="utf-8")
    return {"dir": directory, "shop": shop, "config": config, "database": directory / "opsbot.db"}


def _seed_shop(path: Path) -> None:
    rng = random.Random(17)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE job_runs (job TEXT, scheduled_at TEXT, started_at TEXT, finished_at TEXT,
                               status TEXT, error TEXT);
        CREATE TABLE cashflow_daily (d TEXT, marketplace TEXT, inflow REAL, outflow REAL);
        CREATE VIEW vw_cashflow_daily AS
          SELECT d, marketplace,
                 SUM(inflow - outflow) OVER (PARTITION BY marketplace ORDER BY d) AS balance
          FROM cashflow_daily;
        CREATE TABLE commission_recon (d TEXT, marketplace TEXT, sku TEXT, expected REAL, actual REAL);
        CREATE TABLE sales (ts TEXT, marketplace TEXT, sku TEXT, qty INTEGER, amount REAL);
        """
    )
    # Job runs every 10 minutes for a day: ingestion per marketplace and the nightly reports.
    runs = []
    for i in range(144):
        slot = now - timedelta(minutes=10 * i)
        for job in ("ingest_wb", "ingest_ozon", "report_daily"):
            started = slot + timedelta(seconds=rng.randint(0, 90))
            runs.append((job, _ts(slot), _ts(started), _ts(started + timedelta(seconds=40)), "success", None))
    conn.executemany("INSERT INTO job_runs VALUES (?, ?, ?, ?, ?, ?)", runs)
    # Thirty days of cash flow; ozon's outflow outgrew its settlements in the last week.
    flows = []
    for day in range(30, -1, -1):
        d = (now - timedelta(days=day)).date().isoformat()
        flows.append((d, "wb", 52000 + rng.randint(-3000, 3000), 47000 + rng.randint(-3000, 3000)))
        late = day <= 7
        flows.append((d, "ozon", (9000 if late else 38000) + rng.randint(-500, 500), 36000 + rng.randint(-900, 900)))
    conn.executemany("INSERT INTO cashflow_daily VALUES (?, ?, ?, ?)", flows)
    conn.execute(
        "UPDATE cashflow_daily SET inflow = inflow + 18000 WHERE marketplace = 'ozon' AND d = ?",
        ((now - timedelta(days=20)).date().isoformat(),),
    )
    # Commission lines: eight off by 6-15 % after a category change.
    recon = []
    for i in range(120):
        d = (now - timedelta(days=i % 7)).date().isoformat()
        expected = round(rng.uniform(50, 400), 2)
        actual = expected * (1 + rng.uniform(-0.02, 0.02))
        if i < 8:
            actual = expected * (1 + rng.uniform(0.06, 0.15))
        recon.append((d, rng.choice(["wb", "ozon"]), f"SKU-{1000 + i}", expected, round(actual, 2)))
    conn.executemany("INSERT INTO commission_recon VALUES (?, ?, ?, ?, ?)", recon)
    # Sales until two hours ago, then nothing: the feed has stalled.
    sales = []
    for i in range(400):
        ts = now - timedelta(hours=2, minutes=i * 3)
        sales.append((_ts(ts), rng.choice(["wb", "ozon"]), f"SKU-{rng.randint(1000, 1100)}", 1, rng.uniform(300, 3000)))
    conn.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", sales)
    conn.commit()
    conn.close()


def fix_sales_feed(shop: Path) -> None:
    """The ingestion is repaired: fresh sales arrive."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    conn = sqlite3.connect(shop)
    conn.executemany(
        "INSERT INTO sales VALUES (?, ?, ?, ?, ?)",
        [(_ts(now - timedelta(seconds=s)), "wb", "SKU-1042", 1, 1290.0) for s in (40, 20, 5)],
    )
    conn.commit()
    conn.close()
