"""`opsbot backtest`: a detector replayed over a past range says what the live engine would have done.

The acceptance: the episodes `opsbot backtest --json` prints are those the real `AlertEngine` produces when
the same detector runs live over the same data on a controllable clock, with housekeeping ticks between
runs — `for`, dedup (a re-fire within the window reopens), flapping (muted, then settled) — with the data
on SQLite and on PostgreSQL. And opsbot's own database is never opened.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bench.backtest import SERIES_KIND, define_series_kind
from bot.cli import main
from helpers import FakeClock, database_url, make_settings
from ops.backtest import run_backtest
from ops.config import detector_kinds, parse_config
from ops.runtime import OpsCore
from ops.storage.db import create_engine
from ops.storage.tables import alerts_history

START = datetime(2026, 10, 1)
END = START + timedelta(days=1)
EVERY = 600  # the detectors' `every: 10m`
POINT = 300  # a point every 5 minutes
FLAP = {"alert_dedup_window_sec": 1800, "flap_threshold": 4, "flap_window": 7200.0, "flap_settle": 1800.0}


@pytest.fixture
def series_kind() -> Iterator[None]:
    define_series_kind()
    yield
    detector_kinds.unregister(SERIES_KIND)


def value_at(at: datetime) -> float:
    """1000 with a little wobble, and what should alert (below 300) at known times of the day:
    02:00 one low step (under `for: 2`: nothing); 04:00–05:00 low (fires, resolves); 05:10–05:30 low again
    (a re-fire within the 30m dedup window: the same incident reopened); 10:00–14:00 two steps low, one
    fine, over and over (flapping: muted, then it settles); 21:00 to the end low (still firing at the end)."""
    minute = at.hour * 60 + at.minute
    low = (
        minute == 120
        or 240 <= minute < 300
        or 310 <= minute < 330
        or (600 <= minute < 840 and (minute // 10) % 3 != 2)
        or at >= START + timedelta(hours=21)
    ) and at >= START
    return 100.0 if low else 1000.0 + (minute % 7) * 3


def points() -> list[tuple[datetime, float]]:
    at, out = START - timedelta(hours=3), []
    while at <= END:
        out.append((at, value_at(at)))
        at += timedelta(seconds=POINT)
    return out


async def make_target(path: Path, series: list[tuple[datetime, float]] | None = None) -> str:
    """The data on SQLite (text timestamps) or, with the postgres backend, PostgreSQL (timestamptz)."""
    url = database_url(path)
    engine = create_engine(url)
    async with engine.begin() as conn:
        if url.startswith("sqlite"):
            await conn.execute(text("CREATE TABLE demand (ts TEXT, value REAL)"))
            rows = [{"ts": t.strftime("%Y-%m-%d %H:%M:%S"), "v": v} for t, v in series or points()]
        else:
            await conn.execute(text("CREATE TABLE demand (ts timestamptz, value double precision)"))
            rows = [{"ts": t.replace(tzinfo=UTC), "v": v} for t, v in series or points()]
        await conn.execute(text("INSERT INTO demand (ts, value) VALUES (:ts, :v)"), rows)
    await engine.dispose()
    return url


SERIES_DETECTOR = (
    "{name: demand, kind: series_level, target: shop, every: 10m, for: 2, history: 1h, alert_if: '< 300', "
    "query: 'SELECT ts, value FROM demand WHERE ts > :since AND ts <= :until ORDER BY ts'}"
)
SQL_DETECTOR = (
    "{name: demand, kind: sql, target: shop, every: 10m, for: 2, alert_if: '< 300', "
    "query: 'SELECT value FROM demand WHERE ts <= :until ORDER BY ts DESC LIMIT 1'}"
)


def config_text(target: str, detector: str) -> str:
    return f'targets: {{shop: "{target}"}}\ndetectors:\n  - {detector}\n'


async def live_episodes(
    core: OpsCore, clock: FakeClock, start: datetime = START, end: datetime = END, every: int = EVERY
) -> list[dict[str, Any]]:
    """The live engine over the range: at each run's time a housekeeping tick then the run, as the scheduler
    and the housekeeping job do, and another tick halfway to the next run. Episodes from what it reported."""
    detector = core.config.detectors[0]
    episodes: list[dict[str, Any]] = []
    open_: dict[int, dict[str, Any]] = {}
    at = start
    while at <= end:
        clock.now = at
        await core.pipeline.tick()
        results, report = await core.runner.run_one(detector)
        for incident_id in report.resolved:
            open_.pop(incident_id)["resolved_at"] = _iso(at)
        started = [*report.fired, *report.reopened]
        if started:
            async with core.db.connect() as conn:
                rows = await conn.execute(
                    select(alerts_history.c.id, alerts_history.c.key).where(alerts_history.c.id.in_(started))
                )
                for row in rows:
                    message = next(r.message for r in results if r.key == row.key)
                    open_[row.id] = {"key": row.key, "fired_at": _iso(at), "resolved_at": None, "message": message}
                    episodes.append(open_[row.id])
        clock.now = at + timedelta(seconds=every / 2)
        await core.pipeline.tick()
        at += timedelta(seconds=every)
    return sorted(episodes, key=lambda e: (e["fired_at"], e["key"]))


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("detector", [SERIES_DETECTOR, SQL_DETECTOR], ids=["series", "sql-until"])
async def test_backtest_prints_what_the_live_engine_does(
    tmp_path: Path, series_kind: None, detector: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    target = await make_target(tmp_path / "shop.db")
    (tmp_path / "opsbot.yaml").write_text(config_text(target, detector), encoding="utf-8")
    clock = FakeClock(START)
    core = OpsCore.build(
        make_settings(tmp_path / "ops.db", **FLAP), parse_config(config_text(target, detector)), clock=clock
    )
    await core.migrate()
    try:
        live = await live_episodes(core, clock)
    finally:
        await core.close()

    monkeypatch.chdir(tmp_path)  # no .env of ours; the same engine settings through the environment
    for name, value in FLAP.items():
        monkeypatch.setenv(name.upper(), str(value))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never' / 'live.db'}")
    argv = ["backtest", "--detector", "demand", "--from", "2026-10-01T00:00", "--to", "2026-10-02T00:00", "--json"]
    code = await asyncio.to_thread(main, [*argv, "--config", str(tmp_path / "opsbot.yaml")])
    printed = json.loads(capsys.readouterr().out)

    assert code == 1
    assert [{k: e[k] for k in ("key", "fired_at", "resolved_at", "message")} for e in printed] == live
    assert {e["detector"] for e in printed} == {"demand"}
    fired = [(e["fired_at"][11:16], e["resolved_at"][11:16] if e["resolved_at"] else "still") for e in printed]
    # the one low step at 02:00 is under `for: 2`; 05:10–05:30 reopens the 04:00 incident (dedup window)
    assert fired[:2] == [("04:10", "05:00"), ("05:20", "05:30")]
    assert fired[-1] == ("21:10", "still") and printed[-1]["resolved_at"] is None
    assert all(e["value"] == 100.0 for e in printed)
    assert len(fired) > 4  # the flapping hours fire (muted) and resolve again and again, as live
    assert not (tmp_path / "never").exists()  # opsbot's own database was not even created


async def test_flapping_episodes_are_muted_and_only_the_others_count_as_pages(
    tmp_path: Path, series_kind: None
) -> None:
    target = await make_target(tmp_path / "shop.db")
    config = parse_config(config_text(target, SERIES_DETECTOR))
    report = await run_backtest(make_settings(tmp_path / "ops.db", **FLAP), config, "demand", START, END)
    flapping = [e for e in report.episodes if 10 <= e.fired_at.hour < 15]
    assert flapping and not all(e.paged for e in flapping)  # once it flaps, its re-fires page nobody
    assert report.pages == len(report.episodes) - sum(1 for e in report.episodes if not e.paged)
    assert report.engine_runs < report.runs / 2  # the quiet steps never reached the engine
    assert report.trace[""].low and report.threshold == 300.0  # the band and the threshold, for the chart
    assert report.pages_per_week == pytest.approx(report.pages * 7)


@pytest.mark.no_ops_db
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--detector", "demnd"], "backtest: no detector 'demnd'; did you mean 'demand'?"),
        (["--detector", "nightly"], "backtest: nightly: heartbeat detectors measure the present and cannot be"),
        (["--detector", "site"], "backtest: site: http detectors measure the present"),
        (["--detector", "shop_size"], "backtest: shop_size: db_size detectors measure the present"),
        (["--detector", "fresh"], "backtest: fresh: freshness detectors measure the present"),
        (["--detector", "now_only"], "backtest: now_only: its query does not use :until"),
        (["--detector", "demand", "--to", "2026-09-01"], "backtest: --from (2026-10-01) must be before --to"),
        (["--detector", "demand", "--from", "last week"], "backtest: --from: expected a date like 2026-10-01T00:00"),
        (["--detector", "demand", "--to", "2026-13-01"], "backtest: --to: expected a date like"),
        (["--to", ""], "backtest: --detector, --to missing"),
        (["--detector", "broken"], "backtest: broken: OperationalError: no such table: missing_table"),
        (["--detector", "demand", "--to", "2099-01-01"], "backtest: --to (2099-01-01 00:00) is in the future"),
        (["--detector", "fill"], "backtest: fill: it reads detector 'kept'"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("backtest") else None,
)
def test_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    shop = tmp_path / "shop.db"
    shop.write_bytes(b"")
    (tmp_path / "opsbot.yaml").write_text(
        f"""
targets: {{shop: "sqlite+aiosqlite:///{shop}"}}
detectors:
  - {{name: demand, kind: sql, target: shop, query: "SELECT 1 WHERE :until > ''", alert_if: "< 0"}}
  - {{name: nightly, kind: heartbeat, period: 1d}}
  - {{name: site, kind: http, url: "http://127.0.0.1:9/"}}
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}}
  - {{name: fresh, kind: freshness, target: shop, query: "SELECT 1", max_age: 1h}}
  - {{name: now_only, kind: sql, target: shop, query: "SELECT 1", alert_if: "< 0"}}
  - {{name: broken, kind: sql, target: shop, query: "SELECT v FROM missing_table WHERE ts <= :until", alert_if: "< 0"}}
  - {{name: kept, kind: db_size, target: shop, alert_if: "> 5GB", keep_history: true}}
  - {{name: fill, kind: forecast, detector: kept, alert_if: "> 50GB", within: 3d}}
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    full = {"--from": "2026-10-01", "--to": "2026-10-02", **given}
    args = [part for flag, value in full.items() for part in (flag, value)]
    assert main(["backtest", *args, "--config", str(tmp_path / "opsbot.yaml")]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert len(out.err.strip().splitlines()) == 1 and out.err.startswith(said), out.err


@pytest.mark.no_ops_db
def test_the_live_database_is_untouched_and_nothing_is_sent(tmp_path: Path) -> None:
    """Run as a user would, with DATABASE_URL at a live opsbot database that has an open alert, and with
    BOT_TOKEN pointing at a Telegram that is not there: the file is byte for byte the same, no -wal or
    -journal appears next to it, and the replay fires all the same (exit 1)."""
    live = tmp_path / "live.db"
    live_url = f"sqlite+aiosqlite:///{live}"
    core = OpsCore.build(make_settings(live), parse_config("detectors: []"))
    from helpers import in_thread

    in_thread(core.migrate())
    in_thread(core.close())
    before = hashlib.sha256(live.read_bytes()).hexdigest()
    siblings = sorted(p.name for p in tmp_path.iterdir())
    shop = tmp_path / "shop.db"
    import sqlite3

    conn = sqlite3.connect(shop)
    conn.execute("CREATE TABLE demand (ts TEXT, value REAL)")
    conn.executemany(
        "INSERT INTO demand VALUES (?, ?)",
        [(t.strftime("%Y-%m-%d %H:%M:%S"), v) for t, v in points()],
    )
    conn.commit()
    conn.close()
    (tmp_path / "opsbot.yaml").write_text(config_text(f"sqlite+aiosqlite:///{shop}", SQL_DETECTOR), encoding="utf-8")
    siblings = sorted(p.name for p in tmp_path.iterdir())
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "OPSBOT_CONFIG")}
    env.update(
        DATABASE_URL=live_url,
        BOT_TOKEN="123456:AAHk3v9-xY_z0123456789abcdefghijklm",
        TELEGRAM_API_URL="http://127.0.0.1:9",
        OPSBOT_CONFIG=str(tmp_path / "opsbot.yaml"),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "backtest", "--detector", "demand", "--from", "2026-10-01", "--to",
         "2026-10-02"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "demand (sql), 2026-10-01 00:00 → 2026-10-02 00:00 UTC, every 10m: 145 runs"
    assert lines[1].split() == ["FIRED", "RESOLVED", "FOR", "KEY", "PEAK", "MESSAGE"]
    assert lines[2].startswith("2026-10-01 04:10  2026-10-01 05:00  50m")
    assert "demand = 100 (alert if < 300)" in lines[2]
    assert "still firing" in lines[-2] and lines[-1].startswith(f"{len(lines) - 3} episodes, firing ")
    assert hashlib.sha256(live.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings


ANOMALY_DETECTOR = (
    "{name: demand, kind: anomaly, target: shop, every: 1h, history: 10d, season: 1d, unit: orders/h, "
    "query: 'SELECT ts, value FROM demand WHERE ts > :since AND ts <= :until ORDER BY ts'}"
)


def hourly_orders() -> list[tuple[datetime, float]]:
    """Ten days of hourly orders with a daily season and a little noise, then two days with an evening
    that falls to a fifth (Oct 2, 18:00–21:00)."""
    out, at = [], START - timedelta(days=10)
    while at <= START + timedelta(days=2):
        normal = 1000 + 600 * math.sin((at.hour - 6) / 24 * 2 * math.pi) + 17 * ((at.hour * 7 + at.day) % 5)
        dip = START + timedelta(days=1, hours=18) <= at < START + timedelta(days=1, hours=22)
        out.append((at, normal / 5 if dip else normal))
        at += timedelta(hours=1)
    return out


async def test_an_anomaly_detector_replays_as_it_runs_live(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The anomaly kind's fits are cached in a replay (one series, sliced) and made afresh live: the same
    episodes either way, and the evening dip is one of them."""
    target = await make_target(tmp_path / "shop.db", hourly_orders())
    (tmp_path / "opsbot.yaml").write_text(config_text(target, ANOMALY_DETECTOR), encoding="utf-8")
    clock = FakeClock(START)
    core = OpsCore.build(
        make_settings(tmp_path / "ops.db"), parse_config(config_text(target, ANOMALY_DETECTOR)), clock=clock
    )
    await core.migrate()
    try:
        live = await live_episodes(core, clock, START, START + timedelta(days=2), 3600)
    finally:
        await core.close()
    config = parse_config(config_text(target, ANOMALY_DETECTOR))
    replay = await run_backtest(
        make_settings(tmp_path / "unused.db"), config, "demand", START, START + timedelta(days=2)
    )
    replayed = [
        {
            "key": e.key,
            "fired_at": _iso(e.fired_at),
            "resolved_at": _iso(e.resolved_at) if e.resolved_at else None,
            "message": e.message,
        }
        for e in replay.episodes
    ]
    assert replayed == live
    assert any(e["fired_at"].startswith("2026-10-02T1") for e in live), live  # the evening dip
    assert "expected" in live[0]["message"] and "orders/h" in live[0]["message"]
