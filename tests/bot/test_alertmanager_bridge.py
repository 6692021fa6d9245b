"""The Alertmanager bridge against a real Alertmanager (Debian's prometheus-alertmanager): alerts posted
to it reach the chat through opsbot's webhook with buttons, resolve with it, and the Silence button
creates a silence in it; a bad token is 401, a malformed payload 400."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness
from sqlalchemy import func, select

from bot.emulator import BotApiEmulator
from ops.storage.tables import alerts_history

AM = "prometheus-alertmanager"
TOKEN = "am-hook-secret"
pytestmark = pytest.mark.skipif(shutil.which(AM) is None, reason=f"{AM} is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_alertmanager(work: Path, port: int, hook: str) -> subprocess.Popen[bytes]:
    (work / "am.yml").write_text(
        f"""route:
  receiver: opsbot
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: opsbot
    webhook_configs:
      - url: {hook}
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {TOKEN}}}
""",
        encoding="utf-8",
    )
    with open(work / "am.log", "wb") as log:
        return subprocess.Popen(
            [
                AM,
                f"--config.file={work / 'am.yml'}",
                f"--storage.path={work / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def bridge(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[tuple[Harness, str]]:
    async with running_bridge(tmp_path, emulator, "targets: {}\ndetectors: []\n") as started:
        yield started


@contextlib.asynccontextmanager
async def running_bridge(tmp_path: Path, emulator: BotApiEmulator, config: str) -> AsyncIterator[tuple[Harness, str]]:
    am_port = free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    shop = tmp_path / "empty.db"
    h = await start_harness(
        tmp_path,
        emulator,
        config,
        shop,
        alertmanager_webhook_token=TOKEN,
        alertmanager_url=am_url,
    )
    proc = start_alertmanager(tmp_path, am_port, f"http://127.0.0.1:{h.app.http_port}/alertmanager")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{am_url}/-/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield h, am_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await h.app.stop()


async def post_alerts(am_url: str, ends: datetime | None = None) -> None:
    alert = {
        "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "critical", "team": "infra"},
        "annotations": {
            "summary": "Disk on db1 is 97% full",
            "description": "The /var partition fills at 2 GB/h.",
            "runbook_url": "https://wiki.example/disk",
        },
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    async with aiohttp.ClientSession() as http, http.post(f"{am_url}/api/v2/alerts", json=[alert]) as resp:
        assert resp.status == 200


async def test_alertmanager_alerts_reach_the_chat_resolve_and_silence(bridge: tuple[Harness, str]) -> None:
    h, am_url = bridge
    await post_alerts(am_url)
    cards = await h.wait_cards(ALERT_CHATS[0], 1, timeout=20)
    card = cards[0]
    assert card.text.startswith("🔴 CRITICAL · am:DiskFull")
    assert "Disk on db1 is 97% full" in card.text and "runbook: https://wiki.example/disk" in card.text
    assert "instance=db1" in card.text and "team=infra" in card.text
    assert {"✅ Ack", "🔕 Silence 1h"} <= {b["text"] for b in card.buttons}

    # The Silence button (an admin) silences it in Alertmanager too, with the alert's labels as matchers.
    answer = await h.press(card, "Silence 1h", user_id=ADMIN, username="boss")
    assert answer["text"].startswith("Silenced for 1h")
    await h.emulator.wait_for(
        lambda: any("Alertmanager too" in m.text for m in h.emulator.bot_messages(ALERT_CHATS[0]))
    )
    async with aiohttp.ClientSession() as http, http.get(f"{am_url}/api/v2/silences") as resp:
        silences = [s for s in await resp.json() if s["status"]["state"] == "active"]
    assert len(silences) == 1 and silences[0]["createdBy"] == "@boss"
    matchers = {(m["name"], m["value"], m["isRegex"]) for m in silences[0]["matchers"]}
    assert matchers == {
        ("alertname", "DiskFull", False),
        ("instance", "db1", False),
        ("severity", "critical", False),
        ("team", "infra", False),
    }
    listing = await h.command(ADMIN, "/silences", user_id=ADMIN, username="boss")
    assert "Alertmanager · 1 active" in listing.text and silences[0]["id"] in listing.text
    reply = await h.command(ADMIN, f"/unsilence {silences[0]['id']}", user_id=ADMIN, username="boss")
    assert "expired" in reply.text

    # Resolving it in Alertmanager resolves it in the chat.
    await post_alerts(am_url, ends=datetime.now(UTC) - timedelta(seconds=1))

    async def resolved() -> bool:
        async with h.app.core.db.connect() as conn:
            return await conn.scalar(select(alerts_history.c.status)) == "resolved"

    for _ in range(200):
        if await resolved():
            break
        await asyncio.sleep(0.1)
    assert await resolved()


async def test_alertmanager_silences_are_shown_where_their_alerts_were_sent(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    routes = f"targets: {{}}\ndetectors: []\nroutes: [{{match: {{team: infra}}, chats: [{ALERT_CHATS[0]}]}}]\n"
    async with running_bridge(tmp_path, emulator, routes) as (h, am_url):
        await post_alerts(am_url)
        [card] = await h.wait_cards(ALERT_CHATS[0], 1, timeout=20)
        await h.press(card, "Silence 1h", user_id=ADMIN, username="boss")
        await h.emulator.wait_for(
            lambda: any("Alertmanager too" in m.text for m in h.emulator.bot_messages(ALERT_CHATS[0]))
        )
        async with aiohttp.ClientSession() as http:  # one more, muting nothing opsbot was sent
            body = {
                "matchers": [{"name": "team", "value": "payments", "isRegex": False, "isEqual": True}],
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "createdBy": "someone",
                "comment": "payments freeze",
            }
            async with http.post(f"{am_url}/api/v2/silences", json=body) as resp:
                assert resp.status == 200
        # An opsbot silence by label, made in an admin's private chat, is seen where an alert it matches went.
        made = await h.command(ADMIN, "/silence instance=db1 2h db1-maintenance", user_id=ADMIN, username="boss")
        assert made.text.startswith("🔕 Silence 2")
        here = (await h.command(ALERT_CHATS[0], "/silences")).text
        assert "Alertmanager · 1 active" in here and "@boss" in here and "payments freeze" not in here
        assert "db1-maintenance" in here
        elsewhere = (await h.command(ALERT_CHATS[1], "/silences")).text
        assert "Alertmanager · 0 active" in elsewhere and "@boss" not in elsewhere and "db1" not in elsewhere
        everything = (await h.command(ADMIN_CHAT, "/silences")).text
        assert "Alertmanager · 2 active" in everything and "payments freeze" in everything


async def test_a_bad_token_is_401_and_a_malformed_payload_400(bridge: tuple[Harness, str]) -> None:
    h, _ = bridge
    url = f"http://127.0.0.1:{h.app.http_port}/alertmanager"
    good = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"version": "4", "alerts": []}, headers={"Authorization": "Bearer no"}) as r:
            assert r.status == 401
        for body in ("not json", '{"version": "3", "alerts": []}', '{"version": "4", "alerts": [{"status": "x"}]}'):
            async with http.post(url, data=body, headers={**good, "Content-Type": "application/json"}) as r:
                assert r.status == 400
                assert (await r.json())["error"].startswith("bad payload")
        async with h.app.core.db.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(alerts_history)) == 0


async def test_an_unreachable_alertmanager_is_one_line() -> None:
    from ops.alertmanager_api import AlertmanagerClient, AlertmanagerError

    client = AlertmanagerClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AlertmanagerError) as caught:
        await client.active()
    assert "is unreachable" in str(caught.value) and "\n" not in str(caught.value)
