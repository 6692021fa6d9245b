"""`anomaly` and `forecast` detectors: generated series with known anomalies replayed through `evaluate`,
the fetch path on SQLite and PostgreSQL targets, and the config mistakes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import create_pg_database, drop_pg_database
from sqlalchemy import text

from bench.series import DAY, HOUR, START, episodes, generate, score
from ops.config import parse_config
from ops.config.loader import ConfigError
from ops.detectors import DetectorContext, TargetPool
from ops.detectors.anomaly import AnomalyCheck, AnomalyDetector
from ops.detectors.forecast import ForecastCheck, ForecastDetector
from ops.detectors.series import Series
from ops.model import CheckStatus
from ops.storage.db import create_engine

pytestmark = pytest.mark.no_ops_db


def anomaly(**fields: object) -> AnomalyCheck:
    config = AnomalyDetector.model_validate(
        {"name": "orders", "kind": "anomaly", "target": "t", "query": "q", **fields}
    )
    return AnomalyCheck(config, DetectorContext(TargetPool({})))


def forecast(**fields: object) -> ForecastCheck:
    raw = {"name": "disk", "kind": "forecast", "target": "t", "query": "q", "alert_if": "> 50GB", "within": "3d"}
    return ForecastCheck(ForecastDetector.model_validate({**raw, **fields}), DetectorContext(TargetPool({})))


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def replay(check: AnomalyCheck | ForecastCheck, ts: np.ndarray, values: np.ndarray, first: float, every: float):
    series = {"": Series("", ts, values)}
    times, failing, results = [], [], []
    t = first
    while t <= ts[-1]:
        (r,) = check.evaluate(series, at(t))
        times.append(t)
        failing.append(r.status is CheckStatus.fail)
        results.append(r)
        t += every
    return times, failing, results


@pytest.mark.parametrize(
    ("shape", "anomalies"),
    [("seasonal", ("spike", "dip", "shift")), ("noisy", ("drift", "gap")), ("trending", ("spike", "dip"))],
)
def test_each_kind_of_anomaly_is_caught_and_nothing_else_fires(shape: str, anomalies: tuple[str, ...]) -> None:
    g = generate(shape, seed=1, days=35, anomalies=anomalies)
    times, failing, _ = replay(anomaly(), g.ts, g.values, g.ts[0] + 7 * DAY, HOUR)
    found = episodes(times, failing)
    caught, false = score(found, g.labels)
    assert (caught, false) == (len(g.labels), 0), found


def test_a_level_shift_becomes_the_new_normal() -> None:
    g = generate("steps", seed=0, days=35, anomalies=("shift",))
    times, failing, _ = replay(anomaly(), g.ts, g.values, g.ts[0] + 7 * DAY, HOUR)
    (shift,) = [e for e in episodes(times, failing) if e[0] >= g.labels[0][0]]
    assert shift[1] - shift[0] <= 12 * HOUR  # fired, then resolved on its own within half a day


def test_quiet_series_stay_quiet_for_a_month() -> None:
    for shape in ("seasonal", "noisy", "trending"):
        g = generate(shape, seed=3, days=38)
        times, failing, _ = replay(anomaly(), g.ts, g.values, g.ts[0] + 7 * DAY, HOUR)
        assert len(episodes(times, failing)) <= 2, shape  # a month: at most a false alarm or two


def test_the_message_says_what_was_expected_for_that_hour_of_the_week() -> None:
    g = generate("seasonal", seed=2, days=30)
    friday_20 = START + 29 * DAY + 20 * HOUR  # 2026-01-30 is a Friday
    keep = g.ts <= friday_20
    ts, values = g.ts[keep], g.values[keep].copy()
    values[-1] = values[-1] * 0.35
    (r,) = anomaly(unit="orders/h").evaluate({"": Series("", ts, values)}, at(friday_20 + 1800))
    assert r.status is CheckStatus.fail
    assert r.message.startswith(f"orders: {values[-1]:,.0f} orders/h, expected ")
    assert r.message.endswith(" for Fri 20:00")


def test_too_little_history_is_no_data_never_an_alert() -> None:
    g = generate("seasonal", seed=0, days=6)
    g.values[-3:] = 0  # a crash, on day six: not enough history to know
    _times, failing, results = replay(anomaly(), g.ts, g.values, g.ts[0] + HOUR, HOUR)
    assert not any(failing)
    assert {r.status for r in results} == {CheckStatus.no_data}
    assert "learning; needs 7d of history" in results[-1].message


def test_a_cached_fit_gives_what_a_fresh_one_gives() -> None:
    g = generate("seasonal", seed=4, days=20, step=300, anomalies=("dip",))
    series = {"": Series("", g.ts, g.values)}
    cached = anomaly()
    for t in np.arange(g.ts[0] + 10 * DAY, g.ts[-1], 1700.0)[:60]:
        fresh = anomaly().evaluate({"": Series("", g.ts.copy(), g.values.copy())}, at(t))
        assert cached.evaluate(series, at(t)) == fresh


def test_forecast_fires_before_the_crossing_and_resolves_after_a_clean_up() -> None:
    hours = np.arange(0, 10 * 24 + 1) * HOUR
    ts = START + hours
    size = 40e9 + 1.2e9 * hours / DAY + np.random.default_rng(0).normal(0, 5e7, hours.size)
    clean = ts >= START + 8 * DAY + 6 * HOUR
    size[clean] -= 15e9  # a clean-up
    times, failing, results = replay(forecast(), ts, size, START + 2 * DAY, HOUR)
    firing = episodes(times, failing)
    assert len(firing) == 1
    fired, resolved = firing[0]
    crossing = START + (10e9 / 1.2e9) * DAY
    assert crossing - 3 * DAY - 6 * HOUR <= fired < crossing - 2 * DAY  # about 3 days ahead
    assert START + 8 * DAY + 6 * HOUR < resolved <= START + 8 * DAY + 10 * HOUR  # once the newest points say so
    message = results[times.index(fired)].message
    assert message.startswith("disk: reaches 50.0 GB in ~") and message.endswith(" at +1.2 GB/day")


def test_forecast_says_already_and_not_heading_there() -> None:
    ts = START + np.arange(0, 48) * HOUR
    (r,) = forecast(alert_if="< 100", within="1d").evaluate({"": Series("", ts, 90 - ts * 0)}, at(ts[-1]))
    assert (r.status, r.message) == (CheckStatus.fail, "disk: 90 is already below 100 (+0/day)")
    (r,) = forecast(alert_if="< 10", within="1d").evaluate({"": Series("", ts, 90 + (ts - START) / DAY)}, at(ts[-1]))
    assert r.status is CheckStatus.ok and "not heading there" in r.message


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_queries_read_series_by_key_on_both_databases(backend: str, tmp_path: Path) -> None:
    now = datetime(2026, 1, 30, 20, 30, tzinfo=UTC)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
        column = "TEXT"
    else:
        server = os.environ.get("TEST_POSTGRES_URL")
        if not server:
            pytest.skip("TEST_POSTGRES_URL is not set")
        url = await create_pg_database(server)
        column = "TIMESTAMPTZ"
    g = generate("seasonal", seed=5, days=30)
    keep = g.ts <= now.timestamp() - 1800
    rows = []
    for key, factor in (("eu", 1.0), ("us", 0.5)):
        values = g.values[keep] * factor
        if key == "us":
            values[-1] = 0.0  # us stopped selling at 20:00
        rows += [{"k": key, "ts": at(t), "v": float(v)} for t, v in zip(g.ts[keep], values, strict=True)]
    if backend == "sqlite":
        for row in rows:
            row["ts"] = row["ts"].strftime("%Y-%m-%d %H:%M:%S")
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE orders (region TEXT, ts {column}, n DOUBLE PRECISION)"))
        await conn.execute(text("INSERT INTO orders VALUES (:k, :ts, :v)"), rows)
    await engine.dispose()
    config = AnomalyDetector.model_validate(
        {
            "name": "orders",
            "kind": "anomaly",
            "target": "shop",
            "query": "SELECT region, ts, n FROM orders WHERE ts > :since AND ts <= :until ORDER BY ts",
            "unit": "orders/h",
        }
    )
    pool = TargetPool({"shop": url})
    try:
        check = AnomalyCheck(config, DetectorContext(pool, clock=lambda: now.replace(tzinfo=None)))
        eu, us = await check.check()
        assert (eu.key, eu.status, us.key, us.status) == ("eu", CheckStatus.ok, "us", CheckStatus.fail)
        assert us.message.startswith("orders[us]: 0 orders/h, expected ") and us.message.endswith("for Fri 20:00")
        fetched = await check.fetch_range(now - timedelta(days=28), now)
        assert fetched["eu"].ts.size == int(np.count_nonzero((g.ts > now.timestamp() - 28 * DAY) & keep))
        assert check.evaluate(fetched, now) == [eu, us]
    finally:
        await pool.dispose()
        if backend == "postgres":
            await drop_pg_database(server, url)


@pytest.mark.parametrize(
    ("item", "line"),
    [
        (
            "{name: a, kind: anomaly, target: shop, query: q, season: hourly}",
            "detectors[0] (a).season: Input should be 'auto', 'none', '1d' or '1w'",
        ),
        (
            "{name: a, kind: anomaly, target: shop, query: q, season: 1w, history: 1w}",
            "detectors[0] (a): history 7d is too short for season 1w: use at least 14d",
        ),
        (
            "{name: a, kind: anomaly, target: shop}",
            "detectors[0] (a): give target with query, or detector (a keep_history detector)",
        ),
        (
            '{name: f, kind: forecast, target: shop, query: q, alert_if: "== 5GB", within: 3d}',
            "detectors[0] (f).alert_if: a trend crosses a bound: use <, <=, > or >=, not ==",
        ),
        (
            '{name: f, kind: forecast, target: shop, query: q, alert_if: "> lots", within: 3d}',
            "detectors[0] (f).alert_if: expected an operator and a number or size like 50GB, got '> lots'",
        ),
        (
            '{name: f, kind: forecast, detector: shop_size, alert_if: "> 5GB", within: 3d}',
            "detectors[0] (f).detector: unknown detector 'shop_size'",
        ),
    ],
)
def test_config_mistakes_are_one_line(item: str, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"targets: {{shop: 'sqlite+aiosqlite:///x.db'}}\ndetectors:\n  - {item}\n", name="c.yaml")
    assert [str(e) for e in caught.value.errors] == [f"c.yaml: {line}"]


def test_a_series_detector_reads_only_a_detector_that_keeps_its_history() -> None:
    base = "targets: {shop: 'sqlite+aiosqlite:///x.db'}\ndetectors:\n"
    size = "  - {name: shop_size, kind: db_size, target: shop, alert_if: '> 5GB'%s}\n"
    fill = "  - {name: fill, kind: forecast, detector: shop_size, alert_if: '> 50GB', within: 3d}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(base + size % "" + fill, name="c.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "c.yaml: detectors[1] (fill).detector: detector 'shop_size' does not keep its history "
        "(set keep_history: true on it)"
    ]
    config = parse_config(base + size % ", keep_history: true" + fill, name="c.yaml")
    assert [d.name for d in config.detectors] == ["shop_size", "fill"]
