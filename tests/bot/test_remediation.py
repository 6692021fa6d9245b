"""🛠 Remediate through the emulator: real shell, HTTP and SQL actions, confirm, refusals, retries,
the auto-run budget, notify_admin, history rows and metrics."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import make_sqlite, sql
from ops.storage.tables import alert_events, remediation_history

PY = sys.executable


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, list[dict]]]:
    calls: list[dict] = []

    async def clear(request: web.Request) -> web.Response:
        calls.append(await request.json())
        return web.json_response({"cleared": 42})

    app = web.Application()
    app.router.add_post("/admin/cache/clear", clear)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", calls  # type: ignore[union-attr]
    await runner.cleanup()


@pytest.fixture
async def rh(tmp_path: Path, emulator: BotApiEmulator, peer) -> AsyncIterator[Harness]:
    base, _ = peer
    db = tmp_path / "shop.db"
    shop = make_sqlite(
        db,
        "CREATE TABLE flags (name TEXT, v INT); INSERT INTO flags VALUES ('disk', 0), ('cache', 0), ('size', 0), ('flaky', 0), ('auto', 0), ('slow', 0), ('esc', 0);",
    )
    fix_disk = f"import sqlite3; c = sqlite3.connect({str(db)!r}); c.execute(\"UPDATE flags SET v = 0 WHERE name = 'disk'\"); c.commit(); open({str(tmp_path / 'fixed.txt')!r}, 'w').write('done'); print('removed 3 old logs')"
    detectors = "\n".join(
        f'  - {{name: {n}, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = \'{n}\'", alert_if: "> 0", severity: error, remediation: {a}}}'
        for n, a in [
            ("disk", "clean_disk"),
            ("cache", "clear_cache"),
            ("size", "vacuum_shop"),
            ("flaky", "flaky_fix"),
            ("auto", "auto_fix"),
            ("slow", "slow_fix"),
            ("esc", "escalate"),
        ]
    )
    runbook = tmp_path / "long.md"
    runbook.write_text(
        "# Long runbook\n\n"
        + "\n".join(f"## Step {i}\nRun `cmd --step {i}` and **check** <output> & logs." for i in range(400))
    )
    config = f"""
targets: {{shop: "{shop}"}}
remediations:
  - {{name: clean_disk, kind: shell, command: [{PY}, -c, {json.dumps(fix_disk)}]}}
  - {{name: clear_cache, kind: http, url: "{base}/admin/cache/clear", method: POST, json: {{scope: all}}}}
  - {{name: vacuum_shop, kind: sql, target: shop, statement: VACUUM, confirm: true, description: Reclaims free pages}}
  - {{name: flaky_fix, kind: shell, retries: 2, command: [{PY}, -c, "import sys; print('token=hunter2 boom'); sys.exit(3)"]}}
  - {{name: auto_fix, kind: shell, auto: true, max_auto_per_hour: 2, command: [{PY}, -c, "print('tried')"]}}
  - {{name: slow_fix, kind: shell, command: [{PY}, -c, "import time; time.sleep(2.5); print('slowly')"]}}
  - {{name: escalate, kind: notify_admin}}
detectors:
{detectors}
  - {{name: documented, kind: db_size, target: shop, alert_if: "> 1TB", runbook: {runbook}}}
"""
    h = await start_harness(tmp_path, emulator, config, db, alert_dedup_window_sec=0)
    yield h
    await h.app.stop()


async def fire(h: Harness, flag: str, value: int = 1) -> None:
    sql(h.shop, "UPDATE flags SET v = ? WHERE name = ?", (value, flag))
    await h.sweep()


def card_for(h: Harness, chat: int, detector: str):
    return next(m for m in h.cards(chat) if f"· {detector}</b>" in (m.html or "") or f"· {detector}\n" in m.text)


async def history(h: Harness) -> list[tuple]:
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(
                remediation_history.c.action_name,
                remediation_history.c.status,
                remediation_history.c.attempt,
                remediation_history.c.trigger,
                remediation_history.c.output,
            ).order_by(remediation_history.c.id)
        )
        return [tuple(r) for r in rows]


async def test_admin_runs_a_shell_action_and_the_alert_resolves(rh: Harness, tmp_path: Path) -> None:
    await fire(rh, "disk")
    await rh.wait_cards(ALERT_CHATS[0], 1)
    card = card_for(rh, ALERT_CHATS[0], "disk")
    assert [b["text"] for b in card.buttons][:3] == ["✅ Ack", "🔁 Check now", "🛠 Remediate"]
    answer = await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    assert answer["text"] == "clean_disk started"
    await rh.app.core.remediation.wait_idle()
    await rh.delivered()
    assert (tmp_path / "fixed.txt").read_text() == "done"
    texts = [m.text for m in rh.emulator.bot_messages(ALERT_CHATS[0])]
    card = rh.emulator.messages[(ALERT_CHATS[0], card.message_id)]
    assert "✅ clean_disk succeeded in" in card.text and "RESOLVED" in card.text  # the re-check resolved it
    assert any(t.startswith("✅ clean_disk succeeded in") and "removed 3 old logs" in t for t in texts)
    assert any(t.startswith("🔁 disk after clean_disk: passes now ✅") for t in texts)
    assert any("resolved after" in t for t in texts)
    assert await history(rh) == [("clean_disk", "success", 1, str(ADMIN), "removed 3 old logs")]
    assert rh.app.core.metrics.auto_remediation_total.labels("clean_disk", "success")._value.get() == 1


async def test_http_action_hits_the_service(rh: Harness, peer) -> None:
    _, calls = peer
    await fire(rh, "cache")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    await rh.app.core.remediation.wait_idle()
    assert calls == [{"scope": "all"}]
    assert (await history(rh))[0][:2] == ("clear_cache", "success")


async def test_sql_vacuum_with_confirm_and_cancel(rh: Harness) -> None:
    await fire(rh, "size")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    chat = ALERT_CHATS[0]

    async def ask() -> object:
        before = len(rh.emulator.bot_messages(chat))
        await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
        await rh.emulator.wait_for(lambda: len(rh.emulator.bot_messages(chat)) > before)
        return rh.emulator.bot_messages(chat)[-1]

    question = await ask()
    assert question.text.startswith("🛠 Run vacuum_shop for size (alert 1)? Reclaims free pages")
    assert [b["text"] for b in question.buttons] == ["✅ Yes", "✖ Cancel"] and question.reply_to == card.message_id
    await rh.press(question, "Cancel", user_id=ADMIN, username="admin")
    await rh.emulator.wait_for(lambda: "cancelled by @admin" in rh.emulator.messages[(chat, question.message_id)].text)
    assert await history(rh) == []
    question = await ask()
    refused = await rh.press(question, "Yes", user_id=7, username="bob")
    assert refused == {"text": "Only admins can run remediations.", "show_alert": True}
    await rh.press(question, "Yes", user_id=ADMIN, username="admin")
    await rh.app.core.remediation.wait_idle()
    assert (await history(rh))[0][:3] == ("vacuum_shop", "success", 1)


async def test_non_admin_is_refused_and_recorded(rh: Harness) -> None:
    await fire(rh, "disk")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    answer = await rh.press(card, "Remediate", user_id=7, username="bob")
    assert answer == {"text": "Only admins can run remediations.", "show_alert": True}
    assert await history(rh) == []
    async with rh.app.core.db.connect() as conn:
        refused = (
            await conn.execute(
                select(alert_events.c.actor_id, alert_events.c.detail).where(alert_events.c.event == "refused")
            )
        ).all()
    assert refused == [(7, "remediate: not an admin")]


async def test_a_second_press_while_running_starts_nothing(rh: Harness) -> None:
    await fire(rh, "slow")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    first = await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    second = await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    assert first["text"] == "slow_fix started" and second["text"] == "slow_fix is already running"
    await rh.emulator.wait_for(lambda: "🛠 slow_fix running — @admin" in rh.cards(ALERT_CHATS[0])[0].text, timeout=5)
    await rh.app.core.remediation.wait_idle()
    assert [(a, s) for a, s, *_ in await history(rh)] == [("slow_fix", "success")]


async def test_a_failing_action_is_retried_with_backoff_then_reported_redacted(rh: Harness) -> None:
    await fire(rh, "flaky")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    await rh.app.core.remediation.wait_idle()
    await rh.delivered()
    rows = await history(rh)
    assert [(s, n) for _, s, n, _, _ in rows] == [("failed", 1), ("failed", 2), ("failed", 3)]
    assert all("hunter2" not in (out or "") for *_, out in rows)
    card = rh.emulator.messages[(ALERT_CHATS[0], card.message_id)]
    assert "❌ flaky_fix failed after 3 attempts: exit status 3: token=<redacted> boom" in card.text
    texts = "\n".join(m.text for m in rh.emulator.bot_messages(ALERT_CHATS[0]))
    assert "hunter2" not in texts
    assert rh.app.core.metrics.auto_remediation_total.labels("flaky_fix", "failed")._value.get() == 1


async def test_auto_remediation_runs_once_per_fire_then_pauses(rh: Harness) -> None:
    for _ in range(3):
        await fire(rh, "auto", 1)
        await rh.app.core.remediation.wait_idle()
        await fire(rh, "auto", 0)
    runs = [(s, t) for _, s, _, t, _ in await history(rh)]
    assert runs == [("success", "auto"), ("success", "auto"), ("skipped", "auto")]
    await rh.delivered()
    texts = [m.text for m in rh.emulator.bot_messages(ALERT_CHATS[0])]
    assert any("⏸ auto-remediation paused: 2 runs in the last hour (auto_fix)" in t for t in texts)
    assert rh.app.core.metrics.auto_remediation_total.labels("auto_fix", "skipped")._value.get() == 1


async def test_notify_admin_posts_the_alert_with_context_to_admin_chats(rh: Harness) -> None:
    await fire(rh, "esc")
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    await rh.app.core.remediation.wait_idle()
    [admin_card] = await rh.wait_cards(ADMIN_CHAT, 1)
    assert "Forwarded to the admins with its context" in admin_card.text and "· esc" in admin_card.text
    await rh.press(admin_card, "Ack", user_id=ADMIN, username="admin")  # an ack there edits every copy
    await rh.emulator.wait_for(
        lambda: all("Acknowledged by @admin" in rh.cards(c)[0].text for c in (*ALERT_CHATS, ADMIN_CHAT))
    )


async def test_commands_remediate_runbook_remediations(rh: Harness) -> None:
    await fire(rh, "disk")
    await rh.wait_cards(ALERT_CHATS[0], 1)
    refused = await rh.command(ALERT_CHATS[0], "/remediate disk", user_id=7)
    assert refused.text == "Only admins can run remediations."
    started = await rh.command(ALERT_CHATS[0], "/remediate disk", user_id=ADMIN, username="admin")
    assert started.text == "clean_disk started"
    await rh.app.core.remediation.wait_idle()
    assert (await rh.command(ALERT_CHATS[0], "/remediate nosuch", user_id=ADMIN)).text.startswith("No detector nosuch")
    assert (await rh.command(ALERT_CHATS[0], "/remediate", user_id=ADMIN)).text.startswith("Usage: /remediate")
    listing = await rh.command(ALERT_CHATS[0], "/remediations 5")
    assert "✅ clean_disk succeeded in" in listing.text and "alert 1" in listing.text
    assert (await rh.command(ALERT_CHATS[0], "/remediations x")).text.startswith("Usage: /remediations")
    assert (await rh.command(ALERT_CHATS[0], "/runbook cache")).text == "cache has no runbook."


async def test_runbook_is_split_under_4096_and_rendered(rh: Harness) -> None:
    chat = ALERT_CHATS[1]
    rh.emulator.send_text(chat, "/runbook documented")
    await rh.emulator.wait_for(lambda: any("Step 399" in m.text for m in rh.emulator.bot_messages(chat)), timeout=20)
    parts = rh.emulator.bot_messages(chat)
    assert len(parts) >= 4
    assert all(len(p.text) <= 4096 for p in parts) and not rh.emulator.calls_to("sendMessage", ok=False)
    joined = "".join(p.html or "" for p in parts)
    assert "<b>Long runbook</b>" in joined and "<code>cmd --step 399</code>" in joined and "&lt;output&gt;" in joined
