"""SIGKILL `opsbot run` in the middle of a storm, after an incident was acknowledged (Ack pressed through
the emulator) and noted: started again, the incident's timeline still has every entry written before the
kill, each once, and the storm's alerts each joined their incident once."""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from pathlib import Path

from harness import TOKEN
from sqlalchemy import func, select

from bot.emulator import BotApiEmulator
from helpers import database_url, make_sqlite
from ops.incidents.log import IncidentLog
from ops.incidents.timeline import Entry
from ops.storage.db import create_engine
from ops.storage.tables import alert_events, alerts_history, outbox
from tests.bot.test_kill import CHATS, start_bot

KEYS = 300
ADMIN = 42


def write_config(tmp_path: Path) -> Path:
    """`db_down` fails from the start; `cash_balance` watches KEYS marketplaces, all fine until the test
    turns them negative: then its next run (every 2 s) is a storm."""
    shop = tmp_path / "shop.db"
    values = ", ".join(f"('mp{i:03d}', 1)" for i in range(KEYS))
    url = make_sqlite(shop, f"CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES {values};")
    (tmp_path / "opsbot.yaml").write_text(
        f"""
targets: {{shop: "{url}"}}
detectors:
  - {{name: db_down, kind: sql, target: shop, query: "SELECT 'primary', -1", alert_if: "< 0", severity: critical,
      every: 1h}}
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: error,
      every: 2s}}
""",
        encoding="utf-8",
    )
    return shop


def key(entry: Entry) -> tuple[object, ...]:
    return (entry.at, entry.kind, entry.actor, entry.alert_id, entry.chat_id, entry.detail)


async def test_sigkill_mid_storm_loses_no_timeline_entry(tmp_path: Path, emulator: BotApiEmulator) -> None:
    for chat in CHATS:
        emulator.add_chat(chat)
    emulator.add_chat(ADMIN, "private")
    shop = write_config(tmp_path)
    db = create_engine(database_url(tmp_path / "ops.db"))
    log = IncidentLog(db)  # the test's own view of the bot's database
    env = {"ADMIN_USER_IDS": str(ADMIN)}

    def sent() -> int:
        return len(emulator.calls_to("sendMessage", ok=True))

    first = start_bot(tmp_path, emulator, "first.log", env)
    try:
        # db_down's card reaches every chat; an admin presses Ack on one of them.
        cards = await emulator.wait_for(
            lambda: [m for m in emulator.bot_messages(CHATS[0]) if "db_down" in m.text and m.buttons], timeout=90
        )
        await emulator.wait_for(lambda: all(emulator.bot_messages(c) for c in CHATS), timeout=90)
        query = emulator.press_button(cards[0], "Ack", user_id=ADMIN, username="admin")
        await emulator.wait_for(lambda: query in emulator.callback_answers, timeout=15)
        [incident] = await log.open()
        assert incident.acknowledged_by == "@admin"
        emulator.send_text(
            CHATS[0], f"/note {incident.id} failing over to the replica", user_id=ADMIN, username="admin"
        )
        await emulator.wait_for(lambda: [m for m in emulator.bot_messages(CHATS[0]) if "Noted" in m.text], timeout=30)
        record = await log.get(incident.id)
        assert record is not None
        assert Counter(e.kind for e in record.timeline) == Counter(
            {"joined": 1, "fired": 1, "notified": len(CHATS), "acknowledged": 1, "note": 1}
        )

        # The storm: every marketplace below zero; kill the bot while it delivers.
        with sqlite3.connect(shop) as conn:
            conn.execute("UPDATE b SET v = -50000")
        before_storm = sent()
        await emulator.wait_for(lambda: sent() >= before_storm + 3, timeout=90)
        written = [key(e) for e in record.timeline]  # the incident's entries, all written before the kill
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    async with db.connect() as conn:
        left = await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.status == "pending"))
    assert left, "the kill came after the storm was delivered: too late to test anything"

    second = start_bot(tmp_path, emulator, "second.log", env)
    try:
        after_kill = sent()
        await emulator.wait_for(lambda: sent() > after_kill, timeout=90)  # it carries on delivering
        record = await log.get(incident.id)
        assert record is not None
        now = Counter(key(e) for e in record.timeline)
        assert all(now[k] == 1 for k in written), [k for k in written if now[k] != 1]
        assert sum(now.values()) == len(written), "the restart wrote entries of its own"
        # The storm's alerts each found their incident once, the kill notwithstanding.
        async with db.connect() as conn:
            alerts = (await conn.execute(select(alerts_history.c.id, alerts_history.c.group_id))).all()
            joined = dict(
                (
                    await conn.execute(
                        select(alert_events.c.incident_id, func.count())
                        .where(alert_events.c.event == "joined")
                        .group_by(alert_events.c.incident_id)
                    )
                ).all()
            )
        assert len(alerts) == KEYS + 1 and all(a.group_id is not None for a in alerts)
        assert {a.id: joined.get(a.id) for a in alerts} == {a.id: 1 for a in alerts}
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
        await db.dispose()
    assert TOKEN not in (tmp_path / "second.log").read_text()
