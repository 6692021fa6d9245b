"""A chat sees only what was sent to it: /silences and /remediations show a chat the silences and runs
of its own alerts (admin chats and admins' private chats see all), and /ack or /remediate on an
incident another chat got is refused and recorded, as a button press on it would be."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import make_sqlite, sql
from ops.storage.tables import alert_events

PY = sys.executable
DISK_CHAT, CACHE_CHAT = ALERT_CHATS


@pytest.fixture
async def routed(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE flags (name TEXT, v INT); INSERT INTO flags VALUES ('disk', 1), ('cache', 1);")
    config = f"""
targets: {{shop: "{shop}"}}
routes:
  - {{match: {{detector: disk}}, chats: [{DISK_CHAT}]}}
  - {{match: {{detector: cache}}, chats: [{CACHE_CHAT}]}}
remediations:
  - {{name: clean_disk, kind: shell, command: [{PY}, -c, "print('cleaned')"]}}
  - {{name: clear_cache, kind: shell, command: [{PY}, -c, "print('cleared')"]}}
detectors:
  - {{name: disk, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'disk'", alert_if: "> 0",
      severity: error, remediation: clean_disk, labels: {{team: infra}}}}
  - {{name: cache, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'cache'", alert_if: "> 0",
      severity: error, remediation: clear_cache, labels: {{team: web}}}}
"""
    h = await start_harness(tmp_path, emulator, config, db)
    await h.sweep()
    await h.wait_cards(DISK_CHAT, 1)
    await h.wait_cards(CACHE_CHAT, 1)
    yield h
    await h.app.stop()


async def refusals(h: Harness) -> list[tuple]:
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(alert_events.c.actor_id, alert_events.c.chat_id, alert_events.c.incident_id, alert_events.c.detail)
            .where(alert_events.c.event == "refused")
            .order_by(alert_events.c.id)
        )
        return [tuple(r) for r in rows]


async def test_silences_shows_a_chat_the_silences_of_its_own_alerts(routed: Harness) -> None:
    h = routed
    [disk_card] = h.cards(DISK_CHAT)
    answer = await h.press(disk_card, "Silence 1h", user_id=ADMIN, username="admin")
    assert answer["text"] == "Silenced for 1h (silence 1)"
    made = await h.command(CACHE_CHAT, "/silence cache 2h cache-deploy-reason", user_id=ADMIN, username="admin")
    assert made.text.startswith("🔕 Silence 2")
    made = await h.command(DISK_CHAT, "/silence team=web 3h web-freeze-reason", user_id=ADMIN, username="admin")
    assert made.text.startswith("🔕 Silence 3")
    made = await h.command(DISK_CHAT, "/silence team=billing 1h quiet-billing", user_id=ADMIN, username="admin")
    assert made.text.startswith("🔕 Silence 4")

    disk_view = (await h.command(DISK_CHAT, "/silences")).text
    cache_view = (await h.command(CACHE_CHAT, "/silences")).text
    # The disk chat: its alert's silence, and the two made there; not the cache chat's.
    assert "3 active" in disk_view and "Silence 1h button" in disk_view and "web-freeze-reason" in disk_view
    assert "quiet-billing" in disk_view and "cache-deploy-reason" not in disk_view
    # The cache chat: the one made there, and the label silence that mutes its alert; not the disk chat's.
    assert "2 active" in cache_view and "cache-deploy-reason" in cache_view and "web-freeze-reason" in cache_view
    assert "Silence 1h button" not in cache_view and "quiet-billing" not in cache_view
    for everything in (
        (await h.command(ADMIN_CHAT, "/silences")).text,
        (await h.command(ADMIN, "/silences", user_id=ADMIN, username="admin")).text,
    ):
        assert "4 active" in everything


async def test_remediations_shows_a_chat_the_runs_of_its_own_alerts(routed: Harness) -> None:
    h = routed
    for chat in (DISK_CHAT, CACHE_CHAT):
        [card] = h.cards(chat)
        assert (await h.press(card, "Remediate", user_id=ADMIN, username="admin"))["text"].endswith("started")
        await h.app.core.remediation.wait_idle()
    disk_view = (await h.command(DISK_CHAT, "/remediations")).text
    cache_view = (await h.command(CACHE_CHAT, "/remediations")).text
    assert "clean_disk succeeded" in disk_view and "clear_cache" not in disk_view
    assert "clear_cache succeeded" in cache_view and "clean_disk" not in cache_view
    admin_view = (await h.command(ADMIN_CHAT, "/remediations")).text
    assert "clean_disk succeeded" in admin_view and "clear_cache succeeded" in admin_view


async def test_ack_and_remediate_on_another_chats_incident_are_refused_and_recorded(routed: Harness) -> None:
    h = routed
    disk = await h.app.core.history.open_incident_for("disk")
    assert disk is not None
    answer = await h.command(CACHE_CHAT, f"/ack {disk.id}", user_id=7, username="mallory")
    assert answer.text.startswith(f"No alert {disk.id} here")
    answer = await h.command(CACHE_CHAT, f"/ack #{disk.short_fingerprint}", user_id=7, username="mallory")
    assert answer.text.startswith(f"No alert #{disk.short_fingerprint} here")
    answer = await h.command(CACHE_CHAT, "/ack 999", user_id=7, username="mallory")
    assert answer.text.startswith("No alert 999 here")
    answer = await h.command(CACHE_CHAT, "/remediate disk", user_id=ADMIN, username="admin")
    assert answer.text == "disk has no open alert here; nothing to remediate."
    assert await refusals(h) == [
        (7, CACHE_CHAT, disk.id, "/ack: not sent to this chat"),
        (7, CACHE_CHAT, disk.id, "/ack: not sent to this chat"),
        (7, CACHE_CHAT, None, "/ack: unknown incident"),
        (ADMIN, CACHE_CHAT, disk.id, "/remediate: not sent to this chat"),
    ]
    incident = await h.app.core.incidents.get(disk.id)
    assert incident is not None and incident.status.value == "firing"
    assert await h.app.core.remediation.recent_runs() == []
    # The chat it was sent to may.
    answer = await h.command(DISK_CHAT, f"/ack {disk.id}", user_id=7, username="mallory")
    assert answer.text.startswith("Acknowledged")


async def test_an_until_resolved_silence_is_seen_where_its_alert_was_sent(routed: Harness) -> None:
    h = routed
    [disk_card] = h.cards(DISK_CHAT)
    await h.press(disk_card, "Until resolved", user_id=ADMIN, username="admin")
    assert "Until resolved button" in (await h.command(DISK_CHAT, "/silences")).text
    assert (await h.command(CACHE_CHAT, "/silences")).text.startswith("🔕 No active silences")
    sql(h.shop, "UPDATE flags SET v = 0 WHERE name = 'disk'")
    await h.sweep()
    assert "No active silences" in (await h.command(DISK_CHAT, "/silences")).text
