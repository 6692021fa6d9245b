"""Trading pipeline (PostgreSQL): sample data for examples/trading-pipeline.yaml (lag per stage).

Tables: lane_telemetry, lane_features, watchlist_state, dispatch_recommendations,
dispatch_executions, dispatcher_runs. States: `healthy`, `broken` (every stage lags, a dispatcher
run hangs, one recommendation executed twice).
"""

from __future__ import annotations

from datetime import timedelta

from examples._db import execute, run, utcnow

DIALECT = "postgresql"
STATES = ("healthy", "broken")
TABLES = (
    "lane_telemetry",
    "lane_features",
    "watchlist_state",
    "dispatch_recommendations",
    "dispatch_executions",
    "dispatcher_runs",
)
STORY = {"ack": "duplicate_executions", "fix": "telemetry_lag"}

SCHEMA = [
    *(f"DROP TABLE IF EXISTS {t}" for t in TABLES),
    "CREATE TABLE lane_telemetry (lane TEXT, ts TIMESTAMPTZ, price NUMERIC)",
    "CREATE TABLE lane_features (lane TEXT, computed_at TIMESTAMPTZ)",
    "CREATE TABLE watchlist_state (lane TEXT, updated_at TIMESTAMPTZ)",
    "CREATE TABLE dispatch_recommendations (id SERIAL PRIMARY KEY, lane TEXT, created_at TIMESTAMPTZ)",
    "CREATE TABLE dispatch_executions (id SERIAL PRIMARY KEY, recommendation_id INT, executed_at TIMESTAMPTZ)",
    "CREATE TABLE dispatcher_runs (id SERIAL PRIMARY KEY, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)",
]


def env(url: str) -> dict[str, str]:
    return {"PIPELINE_DB_URL": url}


async def seed(url: str, state: str) -> None:
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    from datetime import UTC

    now = utcnow().replace(tzinfo=UTC)
    broken = state == "broken"
    lag = {  # seconds behind now for each stage
        "telemetry": 900 if broken else 20,
        "features": 1800 if broken else 120,
        "watchlist": 3600 if broken else 300,
        "reco": 3600 if broken else 300,
        "exec": 7200 if broken else 600,
    }
    lanes = ("BTC-USD", "ETH-USD", "SOL-USD")

    def ago(seconds: float):  # type: ignore[no-untyped-def]
        return now - timedelta(seconds=seconds)

    telemetry = [{"l": lane, "ts": ago(lag["telemetry"] + 15 * i), "p": 100 + i} for lane in lanes for i in range(40)]
    features = [{"l": lane, "ts": ago(lag["features"] + 60 * i)} for lane in lanes for i in range(10)]
    watch = [{"l": lane, "ts": ago(lag["watchlist"] + 60 * i)} for lane in lanes for i in range(5)]
    recos = [{"l": lanes[i % 3], "ts": ago(lag["reco"] + 120 * i)} for i in range(20)]
    execs = [{"r": i + 1, "ts": ago(lag["exec"] + 120 * i)} for i in range(20)]
    if broken:
        execs.append({"r": 3, "ts": ago(lag["exec"])})  # recommendation 3 executed twice
    runs = [{"s": ago(600 * i + 300), "f": ago(600 * i + 240)} for i in range(1, 10)]
    runs.append({"s": ago(240), "f": None if broken else ago(200)})  # the latest run hangs when broken
    await run(
        url,
        SCHEMA,
        [
            ("INSERT INTO lane_telemetry VALUES (:l, :ts, :p)", telemetry),
            ("INSERT INTO lane_features VALUES (:l, :ts)", features),
            ("INSERT INTO watchlist_state VALUES (:l, :ts)", watch),
            ("INSERT INTO dispatch_recommendations (lane, created_at) VALUES (:l, :ts)", recos),
            ("INSERT INTO dispatch_executions (recommendation_id, executed_at) VALUES (:r, :ts)", execs),
            ("INSERT INTO dispatcher_runs (started_at, finished_at) VALUES (:s, :f)", runs),
        ],
    )


async def fix(url: str) -> str:
    """The telemetry feed reconnects: fresh bars arrive."""
    await execute(
        url, "INSERT INTO lane_telemetry SELECT lane, now(), 101 FROM (SELECT DISTINCT lane FROM lane_telemetry) l"
    )
    return "telemetry_lag"
