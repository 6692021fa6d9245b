"""Nothing a member types may stall the bot: /health over 50,000 open incidents answers at once in at
most two messages, command answers never hold up an alert in the same chat, /health shows a chat only
what was sent to it, and the SLO chart is drawn off the event loop, one at a time per chat."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, CARD, Harness, start_harness
from sqlalchemy import func, insert, select

from bot.emulator import BotApiEmulator, ChatMessage
from helpers import make_sqlite, sql
from ops.model import fingerprint
from ops.storage.tables import alert_state, alerts_history, check_results, outbox

OPEN = 50_000
CONFIG = """
targets: {{shop: "{url}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: critical}}
  - {{name: queue_lag, kind: sql, target: shop, query: "SELECT k, v FROM lag", alert_if: "> 100", every: 1h}}
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}}
  - {{name: stale_feed, kind: sql, target: shop, query: "SELECT k, v FROM lag", alert_if: "> 0", for: 5, every: 1h}}
"""


@pytest.fixture
async def big(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    path = tmp_path / "shop.db"
    url = make_sqlite(
        path,
        "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', 5);"
        "CREATE TABLE lag (k TEXT, v REAL); INSERT INTO lag VALUES ('q', 1);",
    )
    h = await start_harness(tmp_path, emulator, CONFIG.format(url=url), path)
    yield h
    await h.app.stop()


async def open_incidents(h: Harness, n: int, chat_id: int, detector: str = "queue_lag", first: int = 0) -> None:
    """`n` open incidents of `detector` as a storm long ago would have left them: failing in its last run,
    each one's card delivered to `chat_id` (written straight into the tables, in bulk)."""
    now = h.app.core.clock()
    ran = now - timedelta(minutes=3)
    keys = [f"q{i:05d}" for i in range(first, first + n)]
    fps = {k: fingerprint(detector, k) for k in keys}
    async with h.app.core.db.begin() as conn:
        base = int(await conn.scalar(select(func.max(alerts_history.c.id))) or 0)
        await conn.execute(
            insert(alerts_history),
            [
                {
                    "id": base + 1 + i,
                    "created_at": ran,
                    "fingerprint": fps[k],
                    "source": detector,
                    "key": k,
                    "severity": "warning" if i % 10 else "error",
                    "message": f"{detector}[{k}] = 500 (alert if > 100)",
                    "extras_json": "{}",
                    "status": "firing",
                    "last_seen_at": ran,
                    "notification_count": 1,
                }
                for i, k in enumerate(keys)
            ],
        )
        await conn.execute(
            insert(alert_state),
            [
                {
                    "fingerprint": fps[k],
                    "detector": detector,
                    "key": k,
                    "consecutive_failures": 1,
                    "last_status": "fail",
                    "last_check_at": ran,
                    "incident_id": base + 1 + i,
                }
                for i, k in enumerate(keys)
            ],
        )
        await conn.execute(
            insert(check_results),
            [
                {
                    "ts": ran,
                    "detector": detector,
                    "key": k,
                    "status": "fail",
                    "ok": False,
                    "severity": "warning",
                    "value": 500.0,
                    "message": f"{detector}[{k}] = 500 (alert if > 100)",
                    "duration_ms": 1.0,
                }
                for k in keys
            ],
        )
        await conn.execute(
            insert(outbox),
            [
                {
                    "created_at": ran,
                    "chat_id": chat_id,
                    "kind": "alert",
                    "incident_id": base + 1 + i,
                    "payload_json": "{}",
                    "status": "sent",
                    "attempts": 1,
                    "next_attempt_at": ran,
                    "sent_at": ran,
                    "message_ids": "[]",
                }
                for i in range(n)
            ],
        )
    if h.app.core.db.dialect.name == "postgresql":
        async with h.app.core.db.begin() as conn:  # ids written by hand: move the sequence past them
            await conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('ops_alerts_history', 'id'), (SELECT MAX(id) FROM ops_alerts_history))"
            )
        async with h.app.core.db.begin() as conn:  # the statistics autovacuum would have gathered by now
            await conn.exec_driver_sql("ANALYZE")


def answers_after(h: Harness, chat_id: int, before: set[int]) -> list[ChatMessage]:
    return [
        m
        for m in h.emulator.bot_messages(chat_id)
        if m.message_id not in before and m.reply_to is None and not CARD.search(m.text)
    ]


async def ask(
    h: Harness, chat_id: int, text: str, last_line: str, user_id: int = 1001
) -> tuple[list[ChatMessage], float]:
    """Send a command and wait for its answer's last part (the one holding `last_line`). Returns the
    answer's messages and the seconds from the command to the first of them (the time the bot took;
    a second part follows a second later, as the chat's rate allows)."""
    before = {m.message_id for m in h.emulator.bot_messages(chat_id)}
    first: list[float] = []
    started = time.monotonic()
    h.emulator.listeners.append(
        lambda call, msg: first or msg is None or msg.chat_id != chat_id or first.append(time.monotonic())
    )
    h.emulator.send_text(chat_id, text, user_id=user_id)
    await h.emulator.wait_for(lambda: any(last_line in m.text for m in answers_after(h, chat_id, before)), 30)
    h.emulator.listeners.pop()
    return answers_after(h, chat_id, before), first[0] - started


async def test_health_over_50000_open_incidents_is_quick_short_and_an_alert_still_arrives(big: Harness) -> None:
    h = big
    chat = ALERT_CHATS[0]
    await open_incidents(h, OPEN, chat)
    answer, took = await ask(h, chat, "/health", "Alerts last hour")
    assert took < 1.0, f"/health took {took:.2f}s"
    assert len(answer) <= 2
    text = "\n".join(m.text for m in answer)
    assert "50,000 firing" in text
    assert "queue_lag · FIRING" in text
    assert "more open alerts — /alerts to page" in text
    # An alert fired now, in the same chat, goes out as fast as the chat's budget allows.
    sql(h.shop, "UPDATE b SET v = -5 WHERE k = 'wb'")
    fired = time.monotonic()
    await h.app.core.sweeper.run_one(h.app.core.config.detector("cash_balance"))
    await h.wait_cards(chat, 1, timeout=10)
    assert time.monotonic() - fired < 2.5


async def test_health_shows_a_chat_only_the_incidents_sent_to_it(big: Harness) -> None:
    h = big
    chat, other = ALERT_CHATS
    await open_incidents(h, 3, chat)  # q00000..q00002 went to `chat`
    await open_incidents(h, 2, other, first=3)  # q00003, q00004 to `other`
    await h.app.core.sweeper.run_one(h.app.core.config.detector("stale_feed"))  # failing, no alert yet (for: 5)
    mine = "\n".join(m.text for m in (await ask(h, chat, "/health", "Alerts last hour"))[0])
    assert "3 firing" in mine and "queue_lag · FIRING · 3 open" in mine
    assert "queue_lag[q00002]" in mine and "q00003" not in mine and "q00004" not in mine
    assert "stale_feed · failing (1 of 1)" in mine and "stale_feed[q]" not in mine  # sent nowhere: no message
    for everything in (ADMIN_CHAT, ADMIN):  # an admin chat, and an admin's private chat
        text = "\n".join(m.text for m in (await ask(h, everything, "/health", "Alerts last hour", user_id=ADMIN))[0])
        assert "5 firing" in text and "queue_lag · FIRING · 5 open" in text
        assert all(f"queue_lag[q0000{i}]" in text for i in range(5))
        assert "stale_feed[q] = 1 (alert if > 0)" in text


async def test_command_answers_wait_while_an_alert_is_due_in_the_same_chat(big: Harness) -> None:
    """Alerts go before command answers in a chat's budget: four answers asked at once do not hold up
    an alert fired meanwhile for four seconds."""
    h = big
    chat = ALERT_CHATS[0]
    before = {m.message_id for m in h.emulator.bot_messages(chat)}
    for _ in range(4):
        h.emulator.send_text(chat, "/detectors")
    await h.emulator.wait_for(lambda: answers_after(h, chat, before))  # the first answer is out
    sql(h.shop, "UPDATE b SET v = -5 WHERE k = 'wb'")
    await h.app.core.sweeper.run_one(h.app.core.config.detector("cash_balance"))
    [card] = await h.wait_cards(chat, 1, timeout=10)
    await h.emulator.wait_for(lambda: len(answers_after(h, chat, before)) == 4, 10)
    later = [m for m in answers_after(h, chat, before) if m.message_id > card.message_id]
    assert len(later) >= 2, "the alert waited behind the command answers"
