"""/slo with SLOs and its 📈 Chart through the emulator; the weekly report is delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from harness import ALERT_CHATS, Harness, start_harness
from sqlalchemy import insert

from bot.emulator import BotApiEmulator
from helpers import FakeClock, make_sqlite
from ops.storage import rollup
from ops.storage.tables import check_results

API_TOKEN = "slo-api-token"
INGEST = "✅ ingest · objective 99% · actual 99.50% of 4,000 over 30d"
SCHEDULER = "✅ scheduler · objective 98% · actual 99.29% of 700 over 7d"


@pytest.fixture
async def sh(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE t (v INT); INSERT INTO t VALUES (1);")
    config = f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: ingest_success_rate, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "< 0"}}
  - {{name: scheduler_on_time, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "< 0"}}
slos:
  - {{name: ingest, objective: 99, window: 30d, sli: {{detector: ingest_success_rate}}}}
  - {{name: scheduler, objective: 98, window: 7d, sli: {{detector: scheduler_on_time}}}}
slo_report: "mon 09:00"
"""
    h = await start_harness(tmp_path, emulator, config, db, api_token=API_TOKEN)
    now = h.app.core.clock()
    rows = []
    for day in range(20):  # ingest: 1 bad in 200 per day (99.5 %); scheduler: 5 bad in 100 on day 2
        ts = now - timedelta(days=day, minutes=5)
        rows += [
            {
                "ts": ts,
                "detector": "ingest_success_rate",
                "ok": i != 0,
                "status": "ok",
                "key": "",
                "severity": "warning",
                "message": "",
                "duration_ms": 1.0,
            }
            for i in range(200)
        ]
        rows += [
            {
                "ts": ts,
                "detector": "scheduler_on_time",
                "ok": not (day == 2 and i < 5),
                "status": "ok",
                "key": "",
                "severity": "warning",
                "message": "",
                "duration_ms": 1.0,
            }
            for i in range(100)
        ]
    async with h.app.core.db.begin() as conn:
        await conn.execute(insert(check_results), rows)
        await rollup.rebuild(conn)  # history written by hand: roll it up as the engine would
    yield h
    await h.app.stop()


def check_rows(detector: str, ts: datetime, good: int, bad: int) -> list[dict[str, object]]:
    return [
        {
            "ts": ts,
            "detector": detector,
            "ok": ok,
            "status": "ok" if ok else "fail",
            "key": "",
            "severity": "warning",
            "message": "",
            "duration_ms": 1.0,
        }
        for ok in [True] * good + [False] * bad
    ]


async def add_checks(h: Harness, rows: list[dict[str, object]]) -> None:
    async with h.app.core.db.begin() as conn:
        await conn.execute(insert(check_results), rows)
        await rollup.rebuild(conn)  # history written by hand: roll it up as the engine would


async def test_slo_says_when_the_budget_runs_out_at_the_current_burn(tmp_path: Path, emulator: BotApiEmulator) -> None:
    """30d window, 99 %: 20 quiet days spend half the budget; then the last 6 h burn it 2× (~6 days left),
    5× (~13 hours left), and the estimate goes away once the last 6 h are clean again."""
    clock = FakeClock()
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE t (v INT); INSERT INTO t VALUES (1);")
    config = f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: ingest_success_rate, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "< 0"}}
slos:
  - {{name: ingest, objective: 99, window: 30d, sli: {{detector: ingest_success_rate}}}}
"""
    h = await start_harness(tmp_path, emulator, config, db, clock=clock, api_token=API_TOKEN)
    try:

        async def slo_answer() -> tuple[str, dict[str, object]]:
            text = (await h.command(ALERT_CHATS[0], "/slo")).text
            url = f"http://127.0.0.1:{h.app.http_port}/api/v1/ops/slo/summary"
            headers = {"Authorization": f"Bearer {API_TOKEN}"}
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
                [ingest] = (await resp.json())["slos"]
            return text, ingest

        rows = []
        for day in range(1, 21):  # 1 bad in 200 a day, none in the last 6 h: half the budget, not burning now
            rows += check_rows("ingest_success_rate", clock.now - timedelta(days=day), 199, 1)
        await add_checks(h, rows)
        text, api = await slo_answer()
        assert "budget ▓▓▓▓▓░░░░░ 50% left" in text and "burn 5m — · 30m — · 1h — · 6h —" in text
        assert "exhausted" not in text and api["budget_exhausted_in_seconds"] is None

        # 2 % bad half an hour ago: burn 2 over 6 h; 24 bad of 4,200 spent 57 % → 42.9 % × 30 d ÷ 2 = 6.4 d
        await add_checks(h, check_rows("ingest_success_rate", clock.now - timedelta(minutes=30), 196, 4))
        text, api = await slo_answer()
        assert "   budget exhausted in ~6 days at the current burn" in text
        assert api["budget_exhausted_in_seconds"] == pytest.approx((1 - 24 / 4200 / 0.01) * 30 * 86400 / 2, rel=1e-3)

        # an hour later, 8 % bad in 200 more: 20 bad of 400 in 6 h (burn 5); 40 of 4,400 spent 90.9 %
        clock.advance(3600)
        await add_checks(h, check_rows("ingest_success_rate", clock.now - timedelta(minutes=10), 184, 16))
        text, api = await slo_answer()
        assert "budget ▓░░░░░░░░░ 9% left" in text
        assert "   budget exhausted in ~13 hours at the current burn" in text  # 0.0909 × 30 d ÷ 5 = 13.1 h
        assert api["budget_exhausted_in_seconds"] == pytest.approx((1 - 40 / 4400 / 0.01) * 30 * 86400 / 5, rel=1e-3)

        # seven hours on, only good checks in the last 6 h: not burning, no estimate (budget still 9 %)
        clock.advance(7 * 3600)
        await add_checks(h, check_rows("ingest_success_rate", clock.now - timedelta(minutes=10), 200, 0))
        text, api = await slo_answer()
        assert "burn 5m — · 30m 0.0 · 1h 0.0 · 6h 0.0" in text
        assert "budget exhausted in" not in text and api["budget_exhausted_in_seconds"] is None
    finally:
        await h.app.stop()


async def test_slo_shows_objective_actual_budget_burn_and_status(sh: Harness) -> None:
    answer = await sh.command(ALERT_CHATS[0], "/slo")
    text = answer.text
    assert "🎯 SLOs · each over its own window" in text
    assert INGEST in text
    assert "budget ▓▓▓▓▓░░░░░ 50% left" in text
    assert "⚠️ scheduler · objective 98% · actual 99.29% of 700 over 7d" not in text  # 5/700 bad: fine
    assert SCHEDULER in text
    assert "burn 5m —" in text and "Overall: ✅ 2 of 2 SLOs within objective" in text
    assert [b["text"] for b in answer.buttons] == ["📈 Chart"]
    windowed = await sh.command(ALERT_CHATS[0], "/slo 2d")
    assert "window 2d" in windowed.text and "of 400 over 2d" in windowed.text
    for bad in ("/slo forever", "/slo 0d", "/slo 91d", "/slo 1 2"):
        assert (await sh.command(ALERT_CHATS[0], bad)).text.startswith("Usage: /slo [window]")


async def test_chart_is_a_png_of_sensible_size(sh: Harness) -> None:
    answer = await sh.command(ALERT_CHATS[0], "/slo")
    await sh.press(answer, "Chart")
    await sh.emulator.wait_for(lambda: any(m.kind == "photo" for m in sh.emulator.bot_messages(ALERT_CHATS[0])), 20)
    photo = next(m for m in sh.emulator.bot_messages(ALERT_CHATS[0]) if m.kind == "photo")
    call = next(c for c in sh.emulator.calls_to("sendPhoto", ok=True))
    part = call.params["photo"]
    part = call.params[part.removeprefix("attach://")] if isinstance(part, str) else part
    assert part["head"] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < photo.file_size < 1_000_000
    assert photo.text == "SLI and error budget left, last 30 days"


async def test_weekly_report_is_delivered_to_the_alert_chats(sh: Harness) -> None:
    core = sh.app.core
    from ops.detectors.memory import remember

    await remember(core.db, "slo_report", "", core.clock() - timedelta(days=8), {"armed": True})
    assert await core.report.maybe_send() is True
    await sh.delivered()
    for chat in ALERT_CHATS:
        [report] = [m for m in sh.emulator.bot_messages(chat) if m.text.startswith("🗓 Weekly SLO report")]
        assert INGEST in report.text and SCHEDULER in report.text  # as /slo shows them


async def test_the_api_shows_the_slos_as_slo_does(sh: Harness) -> None:
    """One read model: the API's `slos` are the numbers /slo prints."""
    assert INGEST in (await sh.command(ALERT_CHATS[0], "/slo")).text
    url = f"http://127.0.0.1:{sh.app.http_port}/api/v1/ops/slo/summary"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status == 200
        body = await resp.json()
    by_name = {s["name"]: s for s in body["slos"]}
    ingest, scheduler = by_name["ingest"], by_name["scheduler"]
    assert (ingest["objective_pct"], ingest["window_s"], ingest["total"], ingest["sli_pct"]) == (
        99,
        30 * 86400,
        4000,
        99.5,
    )
    assert (ingest["budget_remaining_pct"], ingest["state"]) == (50.0, "ok")
    assert (scheduler["total"], round(scheduler["sli_pct"], 2), scheduler["state"]) == (700, 99.29, "ok")
    assert ingest["burn"]["5m"] is None  # "burn 5m —": no events in the last 5 minutes


async def test_the_chart_is_drawn_off_the_event_loop_one_at_a_time_per_chat(sh: Harness) -> None:
    """A chart is a few hundred ms of matplotlib: drawn in a worker thread, the loop keeps answering
    (deliveries, HTTP, other chats); a second press in the same chat while one is drawn is told so."""
    answer = await sh.command(ALERT_CHATS[0], "/slo")
    await sh.press(answer, "Chart")  # the first chart also imports matplotlib: not what is measured
    await sh.emulator.wait_for(lambda: any(m.kind == "photo" for m in sh.emulator.bot_messages(ALERT_CHATS[0])), 20)
    gaps: list[float] = []
    drawn = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not drawn.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    first = sh.emulator.press_button(answer, "Chart")
    await sh.emulator.wait_for(lambda: first in sh.emulator.callback_answers)
    second = await sh.press(answer, "Chart")
    await sh.emulator.wait_for(
        lambda: sum(m.kind == "photo" for m in sh.emulator.bot_messages(ALERT_CHATS[0])) == 2, 20
    )
    drawn.set()
    await ticker
    assert second["text"] == "Already drawing a chart for this chat; it comes in a moment."
    assert max(gaps) < 0.3, f"the event loop stood still for {max(gaps):.2f}s"
    await asyncio.sleep(0.3)
    assert sum(m.kind == "photo" for m in sh.emulator.bot_messages(ALERT_CHATS[0])) == 2
