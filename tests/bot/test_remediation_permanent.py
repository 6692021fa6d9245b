"""A remediation that can never succeed fails at once: one attempt, no backoff, the reason on the card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import make_sqlite, sql
from ops.storage.tables import remediation_history


@pytest.fixture
async def rh(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE flags (name TEXT, v INT); INSERT INTO flags VALUES ('esc', 0), ('tool', 0);")
    config = f"""
targets: {{shop: "{shop}"}}
remediations:
  - {{name: escalate, kind: notify_admin}}
  - {{name: run_missing_tool, kind: shell, retries: 5, command: [/nonexistent/opsbot-fixer, --now]}}
detectors:
  - {{name: esc, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'esc'", alert_if: "> 0", severity: error, remediation: escalate}}
  - {{name: tool, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'tool'", alert_if: "> 0", severity: error, remediation: run_missing_tool}}
"""
    h = await start_harness(tmp_path, emulator, config, db, alert_dedup_window_sec=0)
    runner = h.app.core.remediation
    # No admin chat for the runner: notify_admin has nobody to notify, however often it is tried.
    runner.settings = runner.settings.model_copy(update={"admin_chat_ids": []})
    runner.backoff_base = 60.0  # a retry would hold the run for a minute
    yield h
    await h.app.stop()


async def attempts(h: Harness, action: str) -> list[tuple[str, int]]:
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(remediation_history.c.status, remediation_history.c.attempt)
            .where(remediation_history.c.action_name == action)
            .order_by(remediation_history.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("flag", "action", "why"),
    [
        ("esc", "escalate", "ADMIN_CHAT_IDS is empty: there is nobody to notify"),
        ("tool", "run_missing_tool", "cannot start /nonexistent/opsbot-fixer: No such file or directory"),
    ],
)
async def test_a_remediation_that_cannot_succeed_fails_after_one_attempt(
    rh: Harness, flag: str, action: str, why: str
) -> None:
    sql(rh.shop, "UPDATE flags SET v = 1 WHERE name = ?", (flag,))
    await rh.sweep()
    card = (await rh.wait_cards(ALERT_CHATS[0], 1))[0]
    await rh.press(card, "Remediate", user_id=ADMIN, username="admin")
    await rh.emulator.wait_for(lambda: not rh.app.core.remediation._tasks, timeout=10)  # well before any backoff
    assert await attempts(rh, action) == [("failed", 1)]
    await rh.delivered()
    card = rh.emulator.messages[(ALERT_CHATS[0], card.message_id)]
    assert f"❌ {action} failed after 1 attempt: {why}" in card.text
