"""http, heartbeat, metrics, prometheus and python detectors against real peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from helpers import FakeClock, database_url, make_settings
from ops.config import ConfigError, parse_config
from ops.detectors import DetectorContext, TargetPool, build_detector, run_detector
from ops.detectors.metrics_scrape import histogram_quantile
from ops.http import build_http_app, start_http
from ops.metrics import Metrics
from ops.model import CheckStatus
from ops.pings import PingStore
from ops.storage.db import create_engine, migrate


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def check(yaml: str, ctx: DetectorContext | None = None) -> list:
    config = parse_config(yaml, env={})
    ctx = ctx or DetectorContext(TargetPool({}))
    out = []
    for detector in config.detectors:
        out.extend(await run_detector(build_detector(detector, ctx), Metrics()))
    return out


# -- http -------------------------------------------------------------------------------------
@pytest.fixture
async def web_peer() -> AsyncIterator[str]:
    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text='{"status": "ok"}')

    async def down(_r: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(0.4)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/down", down)
    app.router.add_get("/slow", slow)
    runner, url = await serve(app)
    yield url
    await runner.cleanup()


async def test_http_says_what_was_wrong(web_peer: str) -> None:
    closed = free_port()
    results = await check(
        f"""
detectors:
  - {{name: ok, kind: http, url: "{web_peer}/ok", contains: '"ok"', max_latency: 1200ms}}
  - {{name: down, kind: http, url: "{web_peer}/down"}}
  - {{name: maint, kind: http, url: "{web_peer}/down", expect_status: [200, 503], contains: "ok"}}
  - {{name: slow, kind: http, url: "{web_peer}/slow", max_latency: 100ms}}
  - {{name: refused, kind: http, url: "http://127.0.0.1:{closed}/"}}
  - {{name: hangs, kind: http, url: "{web_peer}/slow", timeout: 200ms}}
"""
    )
    ok, down, maint, slow, refused, hangs = results
    assert ok.ok and ok.value > 0 and ok.message.startswith("ok: status 200 in")
    assert down.message == "down: status 503 (expected 200)" and down.status is CheckStatus.fail
    assert maint.message == 'maint: body lacked "ok"'
    assert re.match(r"slow: \d+\.\d s > 0\.1 s", slow.message), slow.message  # 0.4 s of sleep, and a busy machine
    assert refused.message == "refused: connection refused" and not refused.ok
    assert hangs.message == "hangs: timed out after 0.2s" and not hangs.ok


# -- heartbeat -------------------------------------------------------------------------------
@pytest.fixture
async def ping_server(tmp_path: Path) -> AsyncIterator[tuple[str, DetectorContext, FakeClock]]:
    clock = FakeClock()
    db = create_engine(database_url(tmp_path / "ops.db"))
    await migrate(db)
    app = build_http_app(
        Metrics(),
        lambda: asyncio.sleep(0, {}),
        pings=PingStore(db, clock),
        heartbeats=frozenset({"nightly", "hourly", "backup"}),
        ping_token="s3cret",
    )
    runner = await start_http(app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", DetectorContext(TargetPool({}), db, clock), clock
    await runner.cleanup()
    await db.dispose()


async def ping(base: str, path: str, token: str | None = "s3cret", body: str = "", header: bool = False) -> int:
    params = {"token": token} if token and not header else {}
    headers = {"X-Ping-Token": token} if token and header else {}
    async with aiohttp.ClientSession() as s, s.post(f"{base}{path}", params=params, headers=headers, data=body) as r:
        return r.status


HEARTBEATS = """
detectors:
  - {name: hourly, kind: heartbeat, period: 1h, grace: 10m, max_runtime: 30m}
  - {name: nightly, kind: heartbeat, schedule: "0 3 * * *", tz: Europe/Berlin, grace: 15m}
"""


async def test_heartbeat_overdue_fail_and_stuck_runs(ping_server) -> None:
    base, ctx, clock = ping_server
    hourly, _ = await check(HEARTBEATS, ctx)
    assert hourly.status is CheckStatus.no_data and "no ping yet" in hourly.message
    assert await ping(base, "/ping/hourly") == 200
    clock.advance(3600 + 500)
    assert (await check(HEARTBEATS, ctx))[0].ok  # within the grace
    clock.advance(200)
    overdue = (await check(HEARTBEATS, ctx))[0]
    assert not overdue.ok and overdue.message.startswith("hourly: last ping 1h 11m ago; expected by")
    assert await ping(base, "/ping/hourly/fail", body="disk full on /var", header=True) == 200
    failed = (await check(HEARTBEATS, ctx))[0]
    assert not failed.ok and failed.message == "hourly: the job reported failure 0s ago: disk full on /var"
    assert await ping(base, "/ping/hourly/start") == 200
    assert not (await check(HEARTBEATS, ctx))[0].ok  # as healthchecks: a start alone does not clear a failure
    assert await ping(base, "/ping/hourly") == 200
    assert await ping(base, "/ping/hourly/start") == 200
    clock.advance(20 * 60)
    assert (await check(HEARTBEATS, ctx))[0].ok  # running, within max_runtime
    clock.advance(11 * 60)
    stuck = (await check(HEARTBEATS, ctx))[0]
    assert stuck.message == "hourly: started 31m ago and has not finished (max runtime 30m)"
    assert await ping(base, "/ping/hourly") == 200
    assert (await check(HEARTBEATS, ctx))[0].ok


async def test_heartbeat_cron_schedule_in_its_timezone(ping_server) -> None:
    base, ctx, clock = ping_server
    clock.now = clock.now.replace(month=11, day=23, hour=2, minute=5)  # 03:05 in Berlin (UTC+1)
    assert await ping(base, "/ping/nightly") == 200
    clock.now = clock.now.replace(day=24, hour=2, minute=14)  # next run 03:00 Berlin = 02:00 UTC, +15m grace
    assert (await check(HEARTBEATS, ctx))[1].ok
    clock.now = clock.now.replace(minute=16)
    late = (await check(HEARTBEATS, ctx))[1]
    assert not late.ok and "expected by 2026-11-24 02:00 UTC" in late.message


async def test_ping_token_and_unknown_names(ping_server) -> None:
    base, ctx, _ = ping_server
    assert await ping(base, "/ping/hourly", token=None) == 403
    assert await ping(base, "/ping/hourly", token="wrong") == 403
    assert await ping(base, "/ping/hourly", token="wrong", header=True) == 403
    assert await ping(base, "/ping/nosuch") == 404
    assert (await check(HEARTBEATS, ctx))[0].status is CheckStatus.no_data  # nothing was stored


def test_heartbeat_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            """
detectors:
  - {name: a, kind: heartbeat, grace: 5m}
  - {name: b, kind: heartbeat, schedule: "61 * * * *"}
  - {name: c, kind: heartbeat, schedule: "0 3 * * *", tz: Mars/Olympus}
""",
            env={},
        )
    found = "\n".join(info.value.errors)
    assert "detectors[0] (a): Value error, give exactly one of period" in found or "give exactly one of period" in found
    assert "bad cron schedule '61 * * * *'" in found and "unknown timezone 'Mars/Olympus'" in found


# -- metrics ---------------------------------------------------------------------------------
@pytest.fixture
async def exporter() -> AsyncIterator[tuple[str, Histogram, Counter, Gauge]]:
    registry = CollectorRegistry()
    latency = Histogram(
        "http_request_duration_seconds", "latency", ["handler"], registry=registry, buckets=(0.1, 0.25, 0.5, 1.0, 2.5)
    )
    requests = Counter("http_requests", "requests", registry=registry)
    lag = Gauge("job_lag_seconds", "lag", ["pipeline"], registry=registry)

    async def metrics(_r: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner, url = await serve(app)
    yield f"{url}/metrics", latency, requests, lag
    await runner.cleanup()


async def test_metrics_histogram_quantile_between_scrapes(exporter, tmp_path: Path) -> None:
    url, latency, _, _ = exporter
    db = create_engine(database_url(tmp_path / "ops.db"))
    await migrate(db)
    ctx = DetectorContext(TargetPool({}), db, FakeClock())
    yaml = f"""
detectors:
  - {{name: api_latency_p95, kind: metrics, url: "{url}", metric: http_request_duration_seconds,
      labels: {{handler: /api}}, quantile: 0.95, scale: 1000, alert_if: "> 1200"}}
"""
    for _ in range(100):
        latency.labels("/api").observe(2.0)  # old and slow: before the first scrape
    first = (await check(yaml, ctx))[0]
    assert first.status is CheckStatus.no_data and "first scrape" in first.message
    for _ in range(100):
        latency.labels("/api").observe(0.2)
        latency.labels("/other").observe(2.0)  # filtered out by labels
    fast = (await check(yaml, ctx))[0]
    # 0.95 of 100 observations in (0.1, 0.25]: 0.1 + 0.15 * 95/100 = 0.2425 s
    assert fast.ok and fast.value == pytest.approx(242.5)
    for _ in range(100):
        latency.labels("/api").observe(1.8)
    slow = (await check(yaml, ctx))[0]
    assert not slow.ok and slow.value == pytest.approx(1000 + 1500 * 0.95)
    nothing = (await check(yaml, ctx))[0]
    assert nothing.status is CheckStatus.no_data and "no observations" in nothing.message
    await db.dispose()


async def test_metrics_counter_rate_and_gauge_series(exporter, tmp_path: Path) -> None:
    url, _, requests, lag = exporter
    db = create_engine(database_url(tmp_path / "ops.db"))
    await migrate(db)
    clock = FakeClock()
    ctx = DetectorContext(TargetPool({}), db, clock)
    lag.labels("ingest").set(30)
    lag.labels("report").set(900)
    yaml = f"""
detectors:
  - {{name: req_rate, kind: metrics, url: "{url}", metric: http_requests_total, rate: true, alert_if: "< 1"}}
  - {{name: lag, kind: metrics, url: "{url}", metric: job_lag_seconds, alert_if: "> 600"}}
  - {{name: missing, kind: metrics, url: "{url}", metric: nope_total, alert_if: "> 1"}}
"""
    requests.inc(10)
    first, ingest, report, missing = await check(yaml, ctx)
    assert first.status is CheckStatus.no_data
    assert (ingest.key, ingest.ok, report.key, report.ok) == ('pipeline="ingest"', True, 'pipeline="report"', False)
    assert missing.status is CheckStatus.error and "does not expose nope_total" in missing.message
    clock.advance(10)
    requests.inc(50)
    rate = (await check(yaml, ctx))[0]
    assert rate.value == pytest.approx(5.0) and rate.ok
    clock.advance(10)
    assert not (await check(yaml, ctx))[0].ok  # no requests: 0/s < 1
    await db.dispose()


def test_histogram_quantile_matches_promql() -> None:
    inf = float("inf")
    assert histogram_quantile(0.5, {0.1: 0, 0.5: 10, 1.0: 10, inf: 10}) == pytest.approx(0.3)
    assert histogram_quantile(0.99, {0.1: 0, 0.5: 0, inf: 10}) == 0.5  # in +Inf: the highest finite bound
    assert histogram_quantile(0.5, {0.1: 0, inf: 0}) is None


# -- prometheus ------------------------------------------------------------------------------
@pytest.fixture
async def prometheus(exporter, tmp_path: Path) -> AsyncIterator[tuple[str, Gauge]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus server is not installed (.ci/run installs Debian's package)")
    url, _, _, lag = exporter
    target = url.removeprefix("http://").removesuffix("/metrics")
    (tmp_path / "prometheus.yml").write_text(
        f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a server is quick; waiting for it is async below
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    lag.labels("ingest").set(30)
    lag.labels("report").set(900)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{base}/api/v1/query", params={"query": "job_lag_seconds"}) as r:
                        if r.status == 200 and len((await r.json())["data"]["result"]) == 2:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("prometheus never scraped the test exporter")
        yield base, lag
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_prometheus_query_series_as_keys(prometheus) -> None:
    base, _ = prometheus
    results = await check(
        f"""
detectors:
  - {{name: lag, kind: prometheus, url: "{base}", query: "max by (pipeline) (job_lag_seconds)", alert_if: "> 600"}}
  - {{name: total, kind: prometheus, url: "{base}", query: "scalar(sum(job_lag_seconds))", alert_if: "> 10000"}}
  - {{name: nothing, kind: prometheus, url: "{base}", query: "job_lag_seconds{{pipeline='nope'}}", alert_if: "> 1"}}
  - {{name: bad, kind: prometheus, url: "{base}", query: "sum(", alert_if: "> 1"}}
"""
    )
    ingest, report, total, nothing, bad = results
    assert (ingest.key, ingest.ok) == ('pipeline="ingest"', True)
    assert (report.key, report.ok, report.value) == ('pipeline="report"', False, 900)
    assert total.ok and total.value == 930
    assert nothing.status is CheckStatus.no_data
    assert bad.status is CheckStatus.error and "Prometheus said bad_data" in bad.message


# -- python ----------------------------------------------------------------------------------
async def test_python_functions() -> None:
    results = await check(
        """
detectors:
  - {name: depth, kind: python, function: "detector_functions:queue_depth", alert_if: "> 2"}
  - {name: alive, kind: python, function: "detector_functions:async_healthy"}
  - {name: orders, kind: python, function: "detector_functions:verdict"}
  - {name: mapping, kind: python, function: "detector_functions:as_dict"}
  - {name: none, kind: python, function: "detector_functions:nothing"}
  - {name: crash, kind: python, function: "detector_functions:broken"}
  - {name: nocond, kind: python, function: "detector_functions:queue_depth"}
"""
    )
    depth, alive, orders, mapping, none, crash, nocond = results
    assert not depth.ok and depth.value == 3
    assert alive.ok
    assert (orders.ok, orders.value, orders.message) == (False, 7.0, "orders: 7 stuck orders")
    assert mapping.ok and mapping.message == "mapping: all good"
    assert none.status is CheckStatus.no_data
    assert crash.status is CheckStatus.error and "RuntimeError: the check itself crashed" in crash.message
    assert nocond.status is CheckStatus.error and "alert_if is not set" in nocond.message


def test_python_function_that_cannot_be_imported_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("detectors:\n  - {name: x, kind: python, function: 'no_such_module:f'}\n", env={})
    assert "cannot import no_such_module: ModuleNotFoundError" in info.value.errors[0]


async def test_heartbeat_pings_reach_a_running_opsbot(tmp_path: Path) -> None:
    """The /ping endpoint is served by `opsbot`'s own HTTP server (wired in the app)."""
    from bot.app import OpsBotApp

    settings = make_settings(tmp_path / "ops.db", http_port=0, ping_token="")
    config = parse_config("detectors:\n  - {name: backup, kind: heartbeat, period: 1d}\n", env={})
    app = OpsBotApp(settings, config, schedule=False)
    await app.start()
    try:
        base = f"http://127.0.0.1:{app.http_port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/ping/backup") as r:
                assert r.status == 200
        results, _ = await app.core.sweeper.run_one(config.detectors[0])
        assert results[0].ok and results[0].message == "backup: last ping 0s ago"
    finally:
        await app.stop()
