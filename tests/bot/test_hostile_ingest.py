"""What arrives over HTTP is stored whatever it looks like, and a big arrival does not starve the server:
/ping fail bodies in any encoding count, and /healthz answers while 5,000 Alertmanager alerts are written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from harness import ALERT_CHATS, Harness, start_harness
from sqlalchemy import func, select

from bot.emulator import BotApiEmulator
from ops.storage.tables import alerts_history

HEARTBEAT = """
targets: {}
detectors:
  - {name: nightly, kind: heartbeat, period: 1h, grace: 10m}
"""


@pytest.fixture
async def pinged(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    h = await start_harness(tmp_path, emulator, HEARTBEAT, tmp_path / "none.db")
    yield h
    await h.app.stop()


async def post(h: Harness, path: str, body: bytes, content_type: str) -> int:
    url = f"http://127.0.0.1:{h.app.http_port}{path}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers={"Content-Type": content_type}) as r:
        return r.status


async def last_fail(h: Harness) -> str | None:
    done, _ = await h.app.core.pings.latest("nightly")
    assert done is not None and done.kind == "fail"
    return done.body


async def test_a_fail_ping_counts_whatever_its_body(pinged: Harness) -> None:
    h = pinged
    assert await post(h, "/ping/nightly", b"", "text/plain") == 200
    # Not UTF-8 (Latin-1 bytes, declared as UTF-8 by default): decoded with replacement, stored, alerted.
    assert await post(h, "/ping/nightly/fail", "disk voll: /var – 100%".encode("cp1252"), "text/plain") == 200
    await h.sweep()
    [card] = await h.wait_cards(ALERT_CHATS[0], 1)
    assert "the job reported failure 0s ago: disk voll: /var \ufffd 100%" in card.text
    # A charset nobody knows: read as UTF-8 with replacement.
    assert await post(h, "/ping/nightly/fail", "backup failed ✗".encode(), "text/plain; charset=klingon") == 200
    assert await last_fail(h) == "backup failed ✗"
    # A declared charset is honoured.
    assert await post(h, "/ping/nightly/fail", "Fehler: Größe".encode("latin-1"), "text/plain; charset=latin-1") == 200
    assert await last_fail(h) == "Fehler: Größe"
    # NUL bytes (PostgreSQL refuses them in text) are dropped.
    assert await post(h, "/ping/nightly/fail", b"out of\x00 space", "text/plain") == 200
    assert await last_fail(h) == "out of space"
    await h.sweep()
    async with h.app.core.db.connect() as conn:
        message = await conn.scalar(select(alerts_history.c.message))
    assert message == "nightly: the job reported failure 0s ago: out of space"
    # A whole log posted as the body (past the HTTP server's 8 MB limit): its start is kept.
    log = b"step 1 failed\n" + b"x" * (9 * 1024 * 1024)
    assert await post(h, "/ping/nightly/fail", log, "text/plain") == 200
    assert (await last_fail(h) or "").startswith("step 1 failed\nxxx")


async def test_healthz_answers_while_5000_alertmanager_alerts_are_written(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    h = await start_harness(tmp_path, emulator, "targets: {}\ndetectors: []\n", tmp_path / "none.db")
    try:
        base = f"http://127.0.0.1:{h.app.http_port}"
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"Storm{i % 50}", "instance": f"node{i}", "severity": "warning"},
                "annotations": {"summary": f"node{i} is down"},
                "fingerprint": f"{i:016x}",
            }
            for i in range(5000)
        ]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:  # warm: the first answer opens connections
                assert r.status == 200

            async def storm() -> int:
                async with http.post(f"{base}/alertmanager", json={"version": "4", "alerts": alerts}) as r:
                    return r.status

            posting = asyncio.create_task(storm())
            await asyncio.sleep(0.2)  # the POST is read and being written
            slowest, probes = 0.0, 0
            while not posting.done():
                started = time.monotonic()
                async with http.get(f"{base}/healthz") as r:
                    assert r.status == 200
                slowest = max(slowest, time.monotonic() - started)
                probes += 1
                await asyncio.sleep(0.05)
            assert await posting == 200
        assert probes >= 1
        assert slowest < 1.0, f"/healthz took {slowest:.1f}s while the storm was written"
        async with h.app.core.db.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(alerts_history)) == 5000
    finally:
        await h.app.stop()
