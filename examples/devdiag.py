"""Diagnostics pipeline (PostgreSQL, schema `devdiag`): sample data for examples/devdiag.yaml.

Tables: devdiag.problem, devdiag.diag_run, devdiag.fix_suggestion. States: `healthy`, `broken`
(no runs since yesterday, low fix confidence, 15 problems a day with one dominating, slow fixes).
"""

from __future__ import annotations

import random
from datetime import UTC, timedelta

from examples._db import execute, run, utcnow

DIALECT = "postgresql"
STATES = ("healthy", "broken")
STORY = {"ack": "runs_stalled", "fix": "runs_stalled"}

SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS devdiag",
    "DROP TABLE IF EXISTS devdiag.fix_suggestion",
    "DROP TABLE IF EXISTS devdiag.diag_run",
    "DROP TABLE IF EXISTS devdiag.problem",
    "CREATE TABLE devdiag.problem (id INT PRIMARY KEY, title TEXT, first_seen TIMESTAMPTZ, resolved_at TIMESTAMPTZ)",
    "CREATE TABLE devdiag.diag_run (id SERIAL PRIMARY KEY, ts TIMESTAMPTZ, problem_id INT)",
    "CREATE TABLE devdiag.fix_suggestion (problem_id INT, confidence NUMERIC, created_at TIMESTAMPTZ)",
]


def env(url: str) -> dict[str, str]:
    return {"DEVDIAG_DB_URL": url}


async def seed(url: str, state: str) -> None:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    rng = random.Random(21)
    now = utcnow().replace(tzinfo=UTC)
    broken = state == "broken"
    n_problems = 15 if broken else 8
    problems = [
        {
            "id": p,
            "t": f"problem {p}",
            "f": now - timedelta(days=10 + p),
            "r": now - timedelta(days=rng.uniform(0, 20)) if p % 2 == 0 else None,
        }
        for p in range(1, n_problems + 1)
    ]
    for p in problems:  # time to resolve: hours when healthy, days when broken
        if p["r"] is not None:
            p["f"] = p["r"] - timedelta(days=rng.uniform(3, 6) if broken else rng.uniform(0.1, 1.5))
    # Runs every 10 minutes: until now when healthy; when broken they stopped 26 hours ago, and
    # one problem took 80 % of them while 15 different problems showed up on the same day.
    newest = now - (timedelta(hours=26) if broken else timedelta(seconds=1))
    runs = []
    for i in range(300):
        problem = 1 if broken and i % 5 else ((i // 5 if broken else i) % n_problems) + 1
        runs.append({"ts": newest - timedelta(minutes=10 * i), "p": problem})
    confidence = (0.45, 0.65) if broken else (0.72, 0.95)
    fixes = [
        {"p": (i % n_problems) + 1, "c": round(rng.uniform(*confidence), 2), "ts": now - timedelta(days=i % 25)}
        for i in range(60)
    ]
    await run(
        url,
        SCHEMA,
        [
            ("INSERT INTO devdiag.problem VALUES (:id, :t, :f, :r)", problems),
            ("INSERT INTO devdiag.diag_run (ts, problem_id) VALUES (:ts, :p)", runs),
            ("INSERT INTO devdiag.fix_suggestion VALUES (:p, :c, :ts)", fixes),
        ],
    )


async def fix(url: str) -> str:
    """The diagnostics job runs again."""
    await execute(url, "INSERT INTO devdiag.diag_run (ts, problem_id) VALUES (now(), 2), (now(), 3)")
    return "runs_stalled"
