"""The public status page (`/status`, `/status.json`): components' state from their detectors' open alerts,
90 days of uptime bars from the hourly rollup, incidents without anything internal — on SQLite and
PostgreSQL, over HTTP from a running opsbot, with alerts made by the engine on a controllable clock."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.app import OpsBotApp
from helpers import FakeClock, make_settings, make_sqlite
from ops.config import ConfigError, parse_config
from ops.config.current import CurrentConfig
from ops.model import Actor, CheckResult, CheckStatus, Severity
from ops.status_page import StatusPage
from ops.status_page.listener import OwnListener
from ops.storage.tables import alerts_history

# Distinctive strings an alert carries that must never reach the public page.
SECRET_KEY = "wbKEYzq81"
SECRET_MESSAGE = "MSGxq77 balance of contract"
SECRET_VALUE = 31337.25
ACKER = "AckerPl55"
HIDDEN = "hidden_probe_xq"

CONFIG = """
targets: {{t: "{target}"}}
routes:
  - {{match: {{team: shop}}, chats: [-1001], group_by: [team], group_window: 1h}}
detectors:
  - {{name: api_latency_p95, kind: db_size, target: t, alert_if: "> 1", severity: warning, labels: {{team: shop}}}}
  - {{name: site_up, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {{team: shop}}}}
  - {{name: cash_balance, kind: db_size, target: t, alert_if: "> 1", severity: error}}
  - {{name: commission_outliers, kind: db_size, target: t, alert_if: "> 1", severity: info}}
  - {{name: {hidden}, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {{team: shop}}}}
{page}"""

PAGE = """status_page:
  title: Marketplace <status> & co
  components:
    - {name: Orders API, detectors: [api_latency_p95, site_up]}
    - {name: Payouts, detectors: [cash_balance, commission_outliers]}
"""


def make_config(tmp_path: Path, page: str = PAGE) -> str:
    target = make_sqlite(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (v INTEGER);")
    return CONFIG.format(target=target, hidden=HIDDEN, page=page)


@dataclass
class Running:
    app: OpsBotApp
    clock: FakeClock
    base: str

    async def check(self, name: str, ok: bool, key: str = "", severity: Severity | None = None) -> None:
        """One check result of `name`, processed by the engine at the clock's time."""
        detector = self.app.core.config.detector(name)
        assert detector is not None
        status = CheckStatus.ok if ok else CheckStatus.fail
        message = f"{SECRET_MESSAGE} {name}" if not ok else "fine"
        result = CheckResult(name, key, status, severity or detector.severity, message, SECRET_VALUE, "> 1")
        await self.app.core.engine.process(detector, [result])

    async def alert_id(self, name: str) -> int:
        async with self.app.core.db.connect() as conn:
            return int(
                await conn.scalar(
                    select(alerts_history.c.id)
                    .where(alerts_history.c.source == name, alerts_history.c.status != "resolved")
                    .order_by(alerts_history.c.id.desc())
                )
            )

    async def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        async with aiohttp.ClientSession() as http, http.get(self.base + path) as resp:
            return resp.status, await resp.text(), dict(resp.headers)

    async def fresh(self, path: str) -> tuple[int, str, dict[str, str]]:
        """The page after the cache's 15 s: the clock moves on, and the refresh that starts is awaited."""
        self.clock.advance(16)
        await self.get(path)
        await settle(self.app.status_page)
        return await self.get(path)


async def settle(page: StatusPage) -> None:
    task = page._refreshing
    if task is not None:
        await task


async def start(tmp_path: Path, page: str = PAGE, **overrides: object) -> Running:
    clock = FakeClock()
    settings = make_settings(tmp_path / "ops.db", http_port=0, **overrides)
    app = OpsBotApp(settings, parse_config(make_config(tmp_path, page), env={}), clock=clock, schedule=False)
    await app.start()
    return Running(app, clock, f"http://127.0.0.1:{app.http_port}")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    run = await start(tmp_path)
    yield run
    await run.app.stop()


async def seed(run: Running) -> None:
    """Ninety days of history, made by the engine as time passes:
    - day −80: Orders API's site_up fails (critical) for two hours: an outage, resolved;
    - day −10: api_latency_p95 fails (warning) for 30 minutes: degraded, resolved;
    - day −5: the unlisted detector fails alone and resolves;
    - now−1h: cash_balance fails (error) and is acknowledged: Payouts degraded now; commission_outliers
      (info) fails too, changing nothing;
    - now−30m: site_up fails with a key, grouped with the unlisted detector failing at the same time,
      acknowledged by a person: Orders API is in an outage now."""
    now = run.clock.now
    run.clock.now = now - timedelta(days=80, hours=3)
    await run.check("site_up", True)
    run.clock.advance(3600)
    await run.check("site_up", False)
    run.clock.advance(2 * 3600)
    await run.check("site_up", True)
    run.clock.now = now - timedelta(days=10)
    await run.check("api_latency_p95", True)
    await run.check("api_latency_p95", False)
    run.clock.advance(1800)
    await run.check("api_latency_p95", True)
    run.clock.now = now - timedelta(days=5)
    await run.check(HIDDEN, False, key=SECRET_KEY)
    run.clock.advance(600)
    await run.check(HIDDEN, True, key=SECRET_KEY)
    run.clock.now = now - timedelta(hours=1)
    await run.check("cash_balance", False, key=SECRET_KEY)
    await run.check("commission_outliers", False, key=SECRET_KEY)
    await run.app.core.incidents.acknowledge(await run.alert_id("cash_balance"), Actor(777001, ACKER), -1001)
    run.clock.now = now - timedelta(minutes=30)
    await run.check("site_up", False, key=SECRET_KEY)
    await run.check(HIDDEN, False, key=SECRET_KEY)
    await run.app.core.incidents.acknowledge(await run.alert_id("site_up"), Actor(777002, ACKER), -1001)
    run.clock.now = now


async def test_state_bars_and_incidents(running: Running) -> None:
    await seed(running)
    status, body, _ = await running.get("/status.json")
    assert status == 200
    data = __import__("json").loads(body)
    assert data["title"] == "Marketplace <status> & co" and data["state"] == "outage"
    orders, payouts = data["components"]
    # Acknowledged alerts still count: the critical one is an outage, the error one degraded; info is nothing.
    assert (orders["name"], orders["state"]) == ("Orders API", "outage")
    assert (payouts["name"], payouts["state"]) == ("Payouts", "degraded")
    # 90 bars, oldest first, today last; a day without checks has no figure.
    days = orders["days"]
    assert len(days) == 90 and days[-1]["date"] == "2026-11-23" and days[0]["date"] == "2026-08-26"
    by_date = {d["date"]: d for d in days}
    outage_day = by_date["2026-09-04"]  # day −80: 2 of 3 checks passed
    assert outage_day["state"] == "outage" and outage_day["uptime_pct"] == pytest.approx(200 / 3, abs=0.01)
    # Day −10: a warning, but 2 of 3 checks passed: the bar is coloured by the share of passing checks.
    degraded_day = by_date["2026-11-13"]
    assert degraded_day["state"] == "outage" and degraded_day["uptime_pct"] == pytest.approx(66.667, abs=0.01)
    assert by_date["2026-10-01"] == {"date": "2026-10-01", "uptime_pct": None, "state": "no_data"}
    assert by_date["2026-11-23"]["uptime_pct"] == 0.0  # today: site_up's one check failed
    assert payouts["days"][-1]["uptime_pct"] == 0.0 and payouts["days"][0]["state"] == "no_data"
    # Incidents: newest first, ongoing ones on top; the unlisted detector's own incident is not there.
    incidents = data["incidents"]
    assert [(i["title"], i["ended_at"]) for i in incidents] == [
        ("Outage — Orders API", None),
        ("Degraded performance — Payouts", None),
        ("Degraded performance — Orders API", "2026-11-13T12:30:00Z"),
        ("Outage — Orders API", "2026-09-04T12:00:00Z"),
    ]
    assert incidents[0]["started_at"] == "2026-11-23T11:30:00Z" and incidents[3]["started_at"] == "2026-09-04T10:00:00Z"
    assert data["incidents_total"] == 4

    status, page, headers = await running.get("/status")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    assert "Marketplace &lt;status&gt; &amp; co" in page and "<status>" not in page
    assert page.count('class="bars"') == 2 and page.count("<span class=") >= 180
    assert "Some systems are down" in page and "Outage — Orders API" in page


async def test_nothing_internal_leaks(running: Running) -> None:
    await seed(running)
    _, data, _ = await running.get("/status.json")
    _, page, _ = await running.get("/status")
    value = f"{SECRET_VALUE}"
    for text in (data, page):
        for secret in (SECRET_KEY, "MSGxq77", "balance of contract", ACKER, "777001", "777002", HIDDEN):
            assert secret not in text
        assert value not in text and "31337" not in text
        # Not even the listed detectors' names: the public sees components.
        for name in ("api_latency_p95", "site_up", "cash_balance", "commission_outliers", "shop"):
            assert name not in text


async def test_off_unless_configured(tmp_path: Path) -> None:
    run = await start(tmp_path, page="")
    try:
        for path in ("/status", "/status.json"):
            status, body, _ = await run.get(path)
            assert status == 404 and "status_page" in body
        assert run.app.status_page.refreshes == 0
    finally:
        await run.app.stop()


async def test_any_title_renders(tmp_path: Path) -> None:
    """Whatever the config's title and names hold (a NUL, an HTML comment), the page is served: its text is
    escaped, and nothing in it is mistaken for where the page's age goes."""
    odd = 'status_page:\n  title: "Odd \\0age\\0 <!--age--> status"\n  components:\n    - {name: "A \\0age\\0", detectors: [site_up]}\n'
    run = await start(tmp_path, page=odd)
    try:
        status, page, _ = await run.get("/status")
        assert status == 200 and page.count("Updated ") == 1
        assert "Odd \x00age\x00 &lt;!--age--&gt; status" in page and "<!--age-->" not in page
        status, body, _ = await run.get("/status.json")
        assert status == 200 and "Odd" in body
    finally:
        await run.app.stop()


async def test_a_reload_turns_it_on_and_hides_a_removed_detector_at_once(tmp_path: Path) -> None:
    run = await start(tmp_path, page="")
    try:
        await run.check("site_up", False)
        (tmp_path / "opsbot.yaml").write_text(make_config(tmp_path), encoding="utf-8")
        run.app.core.current.replace(parse_config(make_config(tmp_path), env={}), "sha256:on")
        status, body, _ = await run.get("/status.json")
        assert status == 200 and '"Orders API","state":"outage"' in body
        fewer = PAGE.replace("api_latency_p95, site_up", "api_latency_p95")
        run.app.core.current.replace(parse_config(make_config(tmp_path, fewer), env={}), "sha256:fewer")
        # Within the 15 s: a new config is read at once, not served from the old snapshot.
        status, body, _ = await run.get("/status.json")
        assert status == 200 and '"Orders API","state":"operational"' in body
    finally:
        await run.app.stop()


async def test_the_cache_refreshes_at_most_every_15_s_and_shares_one_refresh(running: Running) -> None:
    page = running.app.status_page
    answers = await asyncio.gather(*(running.get("/status.json") for _ in range(50)))
    assert {a[0] for a in answers} == {200} and page.refreshes == 1
    assert all('"state":"operational"' in a[1] for a in answers)
    await running.check("site_up", False)
    running.clock.advance(14)
    _, body, _ = await running.get("/status.json")
    assert '"Orders API","state":"operational"' in body and '"age_seconds":14.0' in body
    await settle(page)
    assert page.refreshes == 1  # not yet due: nothing was read
    running.clock.advance(2)
    # Due: this request is answered from the snapshot it has and starts one refresh for everyone.
    answers = await asyncio.gather(*(running.get("/status.json") for _ in range(20)))
    await settle(page)
    assert page.refreshes == 2
    _, body, _ = await running.get("/status.json")
    assert '"Orders API","state":"outage"' in body and '"age_seconds":0.0' in body


async def test_a_failing_refresh_keeps_the_last_snapshot_with_its_age(running: Running, caplog) -> None:
    page = running.app.status_page
    status, _, _ = await running.get("/status")
    assert status == 200
    await running.app.core.db.dispose()
    broken = running.app.core.db.url
    page.db = __import__("ops.storage.db", fromlist=["create_engine"]).create_engine(
        str(broken.set(database="/nonexistent/dir/ops.db"))
        if broken.get_backend_name() == "sqlite"
        else broken.set(port=1).render_as_string(hide_password=False)
    )
    try:
        running.clock.advance(20)
        for _ in range(3):
            await running.get("/status")
            await settle(page)
        status, body, _ = await running.get("/status")
        assert status == 200 and "Updated 20 s ago" in body and "Traceback" not in body
        assert page.failed_at is not None and page.refreshes == 1
        assert sum("refresh failed" in r.getMessage() for r in caplog.records) == 1
        running.clock.advance(100)
        status, body, _ = await running.get("/status.json")
        assert status == 200 and '"age_seconds":120.0' in body
    finally:
        await page.db.dispose()
        page.db = running.app.core.db


async def test_on_its_own_listener_the_page_is_the_same_and_refreshes(tmp_path: Path, caplog) -> None:
    """STATUS_LISTEN: the page from a thread of its own — the same answers, the same 15 s snapshot (its
    refresh done on the bot's loop), nothing else served there, and a duty in /healthz."""
    caplog.set_level("INFO", logger="bot.app")
    run = await start(tmp_path, status_listen="127.0.0.1:0")
    try:
        listener = run.app.status_listener
        assert listener is not None and listener.port not in (0, run.app.http_port)
        assert f"the status page also on 127.0.0.1:{listener.port}" in caplog.text  # the start-up line says where
        own = Running(run.app, run.clock, f"http://127.0.0.1:{listener.port}")
        status, body, headers = await own.get("/status")
        assert status == 200 and "Marketplace &lt;status&gt; &amp; co" in body and HIDDEN not in body
        assert (
            headers["Cache-Control"] == "public, max-age=15"
            and "default-src 'none'" in headers["Content-Security-Policy"]
        )
        assert (await own.get("/status.json"))[1] == (await run.get("/status.json"))[1]
        assert run.app.status_page.refreshes == 1  # one snapshot for both listeners
        for path in ("/healthz", "/metrics", "/app", "/api/v1/ops/alerts"):  # only the page is public here
            assert (await own.get(path))[0] == 404
        await run.check("site_up", False)
        run.clock.advance(16)
        _, body, _ = await own.get("/status.json")
        assert '"Orders API","state":"operational"' in body  # answered at once from what it has …
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while run.app.status_page.refreshes < 2 and loop.time() < deadline:  # … and a refresh was asked for
            await asyncio.sleep(0.02)
        await settle(run.app.status_page)
        _, body, _ = await own.get("/status.json")
        assert '"Orders API","state":"outage"' in body and '"age_seconds":0.0' in body
        _, health, _ = await run.get("/healthz")
        assert json.loads(health)["duties"]["status-page"]["state"] == "running"
    finally:
        await run.app.stop()
    assert not listener.alive


async def test_its_own_listener_ending_is_started_again(tmp_path: Path) -> None:
    run = await start(tmp_path, status_listen="127.0.0.1:0")
    try:
        listener = run.app.status_listener
        assert listener is not None
        own = Running(run.app, run.clock, f"http://127.0.0.1:{listener.port}")
        assert (await own.get("/status"))[0] == 200
        await listener.stop()  # its thread ends, not asked by its duty: as if it had died
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not listener.alive and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert listener.alive and (await own.get("/status"))[0] == 200  # the same port again
        duty = run.app.duties.as_dict()["status-page"]
        assert duty["state"] == "running" and duty["restarts"] == 1
    finally:
        await run.app.stop()


async def test_no_snapshot_at_all_is_a_short_503(tmp_path: Path) -> None:
    clock = FakeClock()
    config = parse_config(make_config(tmp_path), env={})
    engine = __import__("ops.storage.db", fromlist=["create_engine"]).create_engine(
        "sqlite+aiosqlite:////nonexistent/dir/ops.db"
    )
    page = StatusPage(engine, CurrentConfig(config), clock)
    app = aiohttp.web.Application()
    page.routes(app)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/status") as resp:
                assert resp.status == 503 and "temporarily unavailable" in await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/status.json") as resp:
                assert resp.status == 503 and "error" in await resp.json()
    finally:
        await runner.cleanup()
        await engine.dispose()


async def test_its_own_listener_without_a_snapshot_is_a_short_503_for_a_crowd(tmp_path: Path) -> None:
    """The database down from the start: a crowd on STATUS_LISTEN gets 503s; the one refresh the bot's
    loop tried failed once and is not tried again per request."""
    config = parse_config(make_config(tmp_path), env={})
    engine = __import__("ops.storage.db", fromlist=["create_engine"]).create_engine(
        "sqlite+aiosqlite:////nonexistent/dir/ops.db"
    )
    page = StatusPage(engine, CurrentConfig(config), FakeClock())
    listener = OwnListener(page, "127.0.0.1", 0)
    await listener.start()
    try:
        url = f"http://127.0.0.1:{listener.port}/status"
        async with aiohttp.ClientSession() as http:

            async def get() -> int:
                async with http.get(url) as resp:
                    return resp.status

            assert set(await asyncio.gather(*(get() for _ in range(100)))) == {503}
        assert page.failed_at is not None and page.refreshes == 0
    finally:
        await listener.stop()
        await engine.dispose()
    assert not listener.alive


@pytest.mark.no_ops_db
@pytest.mark.parametrize(
    ("page", "error"),
    [
        (
            "status_page:\n  components:\n    - {name: Orders API, detectors: [site_up, nope]}\n",
            "status_page.components[0] (Orders API).detectors: unknown detector 'nope'",
        ),
        ("status_page:\n  title: X\n", "status_page.components: list at least one component"),
        (
            "status_page:\n  components:\n    - {name: Orders API}\n",
            "status_page.components[0] (Orders API).detectors: required field is missing",
        ),
        (
            "status_page:\n  components:\n    - {name: A, detectors: [site_up]}\n    - {name: A, detectors: [site_up]}\n",
            "status_page.components: two components share a name: A",
        ),
        (
            "status_page:\n  colour: red\n  components: [{name: A, detectors: [site_up]}]\n",
            "status_page.colour: unknown",
        ),
    ],
)
def test_config_mistakes_are_one_line(tmp_path: Path, page: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(make_config(tmp_path, page), env={})
    assert len(caught.value.errors) == 1, caught.value.errors
    assert error in caught.value.errors[0]


@pytest.mark.no_ops_db
def test_check_config_names_the_component(tmp_path: Path, capsys) -> None:
    from bot.cli import main

    page = "status_page:\n  components:\n    - {name: Payouts, detectors: [cash_balanse]}\n"
    (tmp_path / "opsbot.yaml").write_text(make_config(tmp_path, page), encoding="utf-8")
    assert main(["check-config", str(tmp_path / "opsbot.yaml")]) != 0
    out = capsys.readouterr()
    lines = [line for line in (out.out + out.err).splitlines() if "status_page" in line]
    assert lines == [
        f"{tmp_path / 'opsbot.yaml'}: status_page.components[0] (Payouts).detectors: unknown detector 'cash_balanse'"
    ]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.no_ops_db
async def test_the_page_in_a_real_browser(tmp_path: Path) -> None:
    """Chromium (headless, through playwright) renders the components and incidents, no script needed."""
    chromium = _chromium()
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    if chromium is None:
        pytest.skip("chromium is not installed")
    run = await start(tmp_path)
    try:
        await seed(run)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                for scheme, width in (("light", 1000), ("dark", 390)):
                    page = await browser.new_page(
                        viewport={"width": width, "height": 900}, color_scheme=scheme, java_script_enabled=False
                    )
                    await page.goto(run.base + "/status")
                    names = await page.locator(".component .name").all_inner_texts()
                    states = await page.locator(".component .state").all_inner_texts()
                    assert names == ["Orders API", "Payouts"]
                    assert states == ["Outage", "Degraded performance"]
                    assert await page.locator("#overall").inner_text() == "Some systems are down"
                    titles = await page.locator(".incident .title").all_inner_texts()
                    assert titles[0] == "Outage — Orders API" and len(titles) == 4
                    visible = await page.locator(".component").first.locator(".bars span:visible").count()
                    assert visible == (90 if width > 560 else 30)  # a phone shows the last 30 days
                    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
                    assert background == ("rgb(246, 247, 249)" if scheme == "light" else "rgb(18, 21, 27)")
                    assert not re.search(r"wbKEY|MSGxq|AckerPl|hidden_probe", await page.content())
                    await page.close()
            finally:
                await browser.close()
    finally:
        await run.app.stop()
