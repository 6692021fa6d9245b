"""SLOs from known check histories: exact SLI, budget and burn rates; each burn-rate rule fires and
resolves at its boundary; the weekly report fires at its time (controllable clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from helpers import FakeClock, make_settings, make_sqlite
from ops.config import ConfigError, parse_config
from ops.runtime import OpsCore
from ops.slo.burn import budget_exhausted_in, burn_verdict
from ops.storage import rollup
from ops.storage.tables import alerts_history, check_results, outbox

CONFIG = """
targets: {{app: "{app}"}}
detectors:
  - {{name: ingest_success_rate, kind: sql, target: app, query: "SELECT 1", alert_if: "< 0"}}
slos:
  - name: ingest
    objective: ${{SLO_INGEST_SUCCESS_RATE_PCT}}
    window: 30d
    sli: {{detector: ingest_success_rate}}
  - name: api_latency
    objective: 99.0
    window: 28d
    sli:
      target: app
      good_query: SELECT COUNT(*) FROM requests WHERE ts >= :since AND ts < :until AND latency_ms <= 1200
      total_query: SELECT COUNT(*) FROM requests WHERE ts >= :since AND ts < :until
slo_report: "mon 09:00"
slo_report_tz: Europe/Berlin
"""


@pytest.fixture
async def core(tmp_path: Path):
    """opsbot's own database on SQLite, and on PostgreSQL (with TEST_POSTGRES_URL)."""
    clock = FakeClock()  # Monday 2026-11-23 12:00 UTC
    app = make_sqlite(tmp_path / "app.db", "CREATE TABLE requests (ts TEXT, latency_ms REAL);")
    settings = make_settings(tmp_path / "ops.db", alert_chat_ids=[-1001])
    config = parse_config(CONFIG.format(app=app), env=settings.config_env())
    core = OpsCore.build(settings, config, clock=clock)
    await core.migrate()
    yield core
    await core.close()


async def checks(core: OpsCore, ago_s: float, good: int, bad: int) -> None:
    """`good` passing and `bad` failing checks of ingest_success_rate, `ago_s` seconds before now."""
    ts = core.clock() - timedelta(seconds=ago_s)
    rows = [
        {
            "ts": ts,
            "detector": "ingest_success_rate",
            "key": "",
            "status": "ok" if ok else "fail",
            "ok": ok,
            "severity": "warning",
            "message": "",
            "duration_ms": 1.0,
        }
        for ok in [True] * good + [False] * bad
    ]
    async with core.db.begin() as conn:
        await conn.execute(insert(check_results), rows)
        await rollup.rebuild(conn)  # history written by hand: roll it up as the engine would


async def firing(core: OpsCore) -> dict[str, str]:
    async with core.db.connect() as conn:
        rows = await conn.execute(
            select(alerts_history.c.source, alerts_history.c.severity).where(alerts_history.c.status != "resolved")
        )
        return dict(rows.all())


async def test_exact_sli_budget_and_burn_rates(core: OpsCore) -> None:
    slo = core.config.slo("ingest")
    assert slo.objective == 99.0 and slo.budget == pytest.approx(0.01)
    await checks(core, 10 * 86400, good=9000, bad=0)  # 10 days ago: all good
    await checks(core, 2 * 3600, good=950, bad=50)  # 2 h ago: 5 % bad
    await checks(core, 60, good=90, bad=10)  # a minute ago: 10 % bad
    status = await core.slo_reader.status(slo)
    assert (status.good, status.total) == (10040, 10100)
    assert status.sli == pytest.approx(100 * 10040 / 10100)
    assert status.budget_remaining == pytest.approx(100 * (1 - (60 / 10100) / 0.01))
    assert status.burn["5m"] == pytest.approx(10.0)  # 10 % bad / 1 % budget
    assert status.burn["1h"] == pytest.approx(10.0)
    assert status.burn["6h"] == pytest.approx((60 / 1100) / 0.01)
    assert status.burn["3d"] == pytest.approx((60 / 1100) / 0.01)
    assert status.alert == "ticket"  # 3d and 6h over 1; 1h/5m at 10 (< 14.4); 6h at 5.45 (< 6)


def test_burn_rules_at_their_boundaries() -> None:
    base = {"5m": 0.0, "30m": 0.0, "1h": 0.0, "6h": 0.0, "3d": 0.0}
    assert burn_verdict({**base, "1h": 14.4, "5m": 20}) == "ok"  # "exceeds": 14.4 itself is not over
    assert burn_verdict({**base, "1h": 14.41, "5m": 14.41}) == "page"
    assert burn_verdict({**base, "1h": 20, "5m": 14.4}) == "ok"  # the short window must agree
    assert burn_verdict({**base, "6h": 6.01, "30m": 6.01}) == "page"
    assert burn_verdict({**base, "6h": 6.0, "30m": 9, "3d": 0.5}) == "ok"
    assert burn_verdict({**base, "3d": 1.01, "6h": 1.01}) == "ticket"
    assert burn_verdict({**base, "3d": 1.0, "6h": 5}) == "ok"
    assert burn_verdict({**base, "5m": None, "1h": 50}) == "ok"  # no events in a window: no verdict


def test_budget_exhausted_in_is_what_is_left_over_the_current_burn() -> None:
    day = 86400.0
    month = 30 * day
    # half the budget left, burning 3× over 6 h: half a window at 3× lasts 5 days
    assert budget_exhausted_in(50.0, month, {"1h": 10.0, "6h": 3.0}) == pytest.approx(5 * day)
    # the 6 h window has no events: the last hour's burn stands in for it
    assert budget_exhausted_in(50.0, month, {"1h": 10.0, "6h": None}) == pytest.approx(1.5 * day)
    assert budget_exhausted_in(100.0, 7 * day, {"6h": 14.0}) == pytest.approx(12 * 3600)
    # nothing to estimate: not burning faster than the budget allows, no events, nothing left, no SLI
    assert budget_exhausted_in(50.0, month, {"1h": 40.0, "6h": 1.0}) is None
    assert budget_exhausted_in(50.0, month, {"1h": None, "6h": None}) is None
    assert budget_exhausted_in(0.0, month, {"6h": 5.0}) is None
    assert budget_exhausted_in(-20.0, month, {"6h": 5.0}) is None
    assert budget_exhausted_in(None, month, {"6h": 5.0}) is None


async def test_status_estimates_the_exhaustion_from_its_own_numbers(core: OpsCore) -> None:
    slo = core.config.slo("ingest")
    await checks(core, 10 * 86400, good=9000, bad=0)
    await checks(core, 2 * 3600, good=950, bad=50)
    status = await core.slo_reader.status(slo)
    assert status.burn["6h"] == pytest.approx(5.0)
    left = 1 - (50 / 10000) / 0.01  # half the budget: 3 days at 5×
    assert status.budget_exhausted_in == pytest.approx(left * 30 * 86400 / 5.0)
    assert (await core.slo_reader.status(slo, window=86400.0)).budget_exhausted_in is None  # a day: overspent
    await checks(core, 60, good=0, bad=60)  # the budget of the 30 days is now spent
    status = await core.slo_reader.status(slo)
    assert status.budget_remaining is not None and status.budget_remaining < 0
    assert status.budget_exhausted_in is None


async def test_page_fires_through_the_engine_and_resolves(core: OpsCore) -> None:
    await checks(core, 60, good=80, bad=20)  # 20 % bad in the last minute: 20× over 5m and 1h
    statuses = await core.slo.evaluate()
    assert statuses[0].alert == "page"
    assert await firing(core) == {"slo:ingest": "critical"}
    async with core.db.connect() as conn:
        kinds = (await conn.execute(select(outbox.c.kind))).scalars().all()
    assert kinds == ["alert"]
    assert core.metrics.slo_violation_total.labels("ingest")._value.get() == 1
    # An hour later the bad minute has left the 5m and 1h windows (and 6h/30m stay under 6): it resolves
    # to a ticket first (3d and 6h over 1), then to ok when the good checks dilute 3d and 6h.
    core.clock.advance(3601)
    await checks(core, 30, good=100, bad=0)
    assert (await core.slo.evaluate())[0].alert == "ticket"
    assert await firing(core) == {"slo:ingest": "critical"}  # severity does not fall while it fires
    core.clock.advance(7 * 3600)  # the bad minute is now outside 6h: the ticket rule no longer holds
    await checks(core, 30, good=1000, bad=0)
    status = (await core.slo.evaluate())[0]
    assert status.burn["3d"] > 1 and status.burn["6h"] == 0 and status.alert == "ok"
    assert await firing(core) == {}


async def test_ticket_fires_as_a_warning(core: OpsCore) -> None:
    await checks(core, 3 * 3600, good=970, bad=30)  # 3 % bad 3 h ago: 3× over 6h and 3d, nothing short
    await checks(core, 60, good=10, bad=0)
    status = (await core.slo.evaluate())[0]
    assert status.alert == "ticket" and await firing(core) == {"slo:ingest": "warning"}


async def test_event_based_sli_from_the_services_own_table(core: OpsCore, tmp_path: Path) -> None:
    import sqlite3

    now = core.clock()
    conn = sqlite3.connect(tmp_path / "app.db")
    rows = [
        ((now - timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S"), 2000 if h % 50 == 0 else 300) for h in range(1, 500)
    ]
    conn.executemany("INSERT INTO requests VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    status = await core.slo_reader.status(core.config.slo("api_latency"))
    in_window = [r for r in rows if r[0] >= (now - timedelta(days=28)).strftime("%Y-%m-%d %H:%M:%S")]
    bad = sum(1 for _, ms in in_window if ms > 1200)
    assert (status.total, status.good) == (len(in_window), len(in_window) - bad)
    await core.slo.evaluate()
    async with core.db.connect() as c:
        view = (
            await c.execute(
                text("SELECT slo, slo_good, slo_total FROM vw_slo_daily WHERE slo = 'api_latency' ORDER BY d")
            )
        ).all()
    assert view and all(total >= good for _, good, total in view)


async def test_weekly_report_fires_at_its_time_once(core: OpsCore) -> None:
    # Monday 12:00 UTC: armed now; the next "mon 09:00 Europe/Berlin" is 2026-11-30 08:00 UTC.
    assert await core.report.maybe_send() is False
    core.clock.now = core.clock.now.replace(day=30, hour=7, minute=59)
    assert await core.report.maybe_send() is False
    core.clock.now = core.clock.now.replace(hour=8, minute=0)
    assert await core.report.maybe_send() is True
    assert await core.report.maybe_send() is False  # not twice for the same slot
    async with core.db.connect() as conn:
        rows = (await conn.execute(select(outbox.c.chat_id, outbox.c.kind))).all()
    assert rows == [(-1001, "slo_report")]
    core.clock.advance(7 * 86400)
    assert await core.report.maybe_send() is True


def test_slo_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            """
targets: {app: "sqlite+aiosqlite:///x.db"}
slos:
  - {name: a, objective: 100, sli: {detector: nope}}
  - {name: b, objective: 99, sli: {target: app, good_query: "SELECT 1"}}
  - {name: c, objective: 99, sli: {detector: nope}}
slo_report: "someday"
""",
            env={},
        )
    found = "\n".join(info.value.errors)
    assert "slos[0] (a).objective: Input should be less than 100" in found
    assert "slos[1] (b).sli: give either detector, or target with good_query and total_query" in found
    assert 'slo_report: expected a weekday and a time like "mon 09:00"' in found
