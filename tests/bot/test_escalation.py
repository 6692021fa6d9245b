"""Escalation through the emulator: an unacknowledged critical climbs to the admin chat with the
same buttons, and an Ack there edits every copy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, start_harness
from sqlalchemy import update

from bot.emulator import BotApiEmulator
from helpers import make_sqlite
from ops.storage.tables import alerts_history


async def test_escalation_reaches_the_admins_and_their_ack_edits_every_copy(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE t (v INT); INSERT INTO t VALUES (5);")
    config = f"""
targets: {{shop: "{shop}"}}
escalation:
  critical: {{after: 10m, repeat: 30m}}
detectors:
  - {{name: cash, kind: sql, target: shop, query: "SELECT v FROM t", alert_if: "> 1", severity: critical}}
"""
    h = await start_harness(tmp_path, emulator, config, db)
    try:
        await h.sweep()
        await h.wait_cards(ALERT_CHATS[0], 1)
        async with h.app.core.db.begin() as conn:  # eleven minutes pass, nobody acks
            await conn.execute(update(alerts_history).values(created_at=h.app.core.clock() - timedelta(minutes=11)))
        await h.app.core.housekeeping()
        [admin_card] = await h.wait_cards(ADMIN_CHAT, 1)
        await h.emulator.wait_for(
            lambda: any(m.text == "⏫ Unacknowledged for 11m" for m in h.emulator.bot_messages(ADMIN_CHAT))
        )
        note = next(m for m in h.emulator.bot_messages(ADMIN_CHAT) if m.text.startswith("⏫"))
        assert note.reply_to == admin_card.message_id
        assert [b["text"] for b in admin_card.buttons][:2] == ["✅ Ack", "🔁 Check now"]
        await h.press(admin_card, "Ack", user_id=ADMIN, username="admin")
        chats = (*ALERT_CHATS, ADMIN_CHAT)
        await h.emulator.wait_for(lambda: all("Acknowledged by @admin" in h.cards(c)[0].text for c in chats))
        await h.app.core.housekeeping()
        await h.delivered()
        assert sum(m.text.startswith("⏫") for m in h.emulator.bot_messages(ADMIN_CHAT)) == 1
    finally:
        await h.app.stop()
