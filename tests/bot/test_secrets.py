"""Secrets stay secret: passwords in detector URLs, tokens in an http detector's query string and
ALERTMANAGER_URL's password never reach a chat, a stored row or an API answer; a remediation command
runs with a minimal environment and every configured secret is blanked out of what it prints."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, Harness, start_harness
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from helpers import make_sqlite, sql
from ops.storage.tables import alert_events, alerts_history, check_results, remediation_history, remediation_runs

API_TOKEN = "api-tok-6f6f6f6f"
SCRAPE_PW = "scrape-pw-1a1a"
PROM_PW = "prom-pw-2b2b"
SITE_TOKEN = "site-tok-3c3c"
AM_PW = "am-pw-4d4d"
URL_SECRETS = (SCRAPE_PW, PROM_PW, SITE_TOKEN, AM_PW)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def looping() -> AsyncIterator[str]:
    """A site that redirects to itself: aiohttp gives up with an error quoting the whole URL."""

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url))

    app = web.Application()
    app.router.add_get("/health", loop)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    await runner.cleanup()


@pytest.fixture
async def leaky(tmp_path: Path, emulator: BotApiEmulator, looping: str) -> AsyncIterator[Harness]:
    shop = tmp_path / "shop.db"
    make_sqlite(shop, "CREATE TABLE t (v INT);")
    down = closed_port()
    config = f"""
targets: {{}}
detectors:
  - {{name: scrape, kind: metrics, url: "http://scraper:{SCRAPE_PW}@127.0.0.1:{down}/metrics", metric: up,
      alert_if: "< 1", severity: critical}}
  - {{name: promq, kind: prometheus, url: "http://prom:{PROM_PW}@127.0.0.1:{down}", query: up, alert_if: "< 1",
      severity: critical}}
  - {{name: site, kind: http, url: "{looping}/health?page=1&token={SITE_TOKEN}", severity: critical}}
"""
    h = await start_harness(
        tmp_path,
        emulator,
        config,
        shop,
        api_token=API_TOKEN,
        alertmanager_url=f"http://am:{AM_PW}@127.0.0.1:{down}",
    )
    yield h
    await h.app.stop()


def chat_texts(h: Harness) -> str:
    return "\n".join(m.text for chat in (*ALERT_CHATS, ADMIN_CHAT, ADMIN) for m in h.emulator.bot_messages(chat))


async def stored_text(h: Harness) -> str:
    async with h.app.core.db.connect() as conn:
        rows = [
            *(await conn.execute(select(check_results.c.key, check_results.c.message, check_results.c.error))),
            *(await conn.execute(select(alerts_history.c.message, alerts_history.c.extras_json))),
            *(await conn.execute(select(alert_events.c.detail))),
        ]
    return "\n".join(str(v) for row in rows for v in row)


async def test_passwords_and_tokens_in_detector_urls_reach_no_chat_row_or_api_answer(leaky: Harness) -> None:
    h = leaky
    await h.sweep()
    cards = await h.wait_cards(ALERT_CHATS[0], 3)
    texts = "\n".join(c.text for c in cards)
    # Still says what is wrong and where, without the secret.
    assert "scraper:***@127.0.0.1" in texts and "prom:***@127.0.0.1" in texts
    assert "TooManyRedirects" in texts and "token=***" in texts and "page=1" in texts
    await h.command(ALERT_CHATS[0], "/health")
    silences = await h.command(ADMIN_CHAT, "/silences", user_id=ADMIN, username="admin")
    assert "am:***@127.0.0.1" in silences.text and "is unreachable" in silences.text

    answers = []
    base = f"http://127.0.0.1:{h.app.http_port}/api/v1/ops"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for method, path in (("POST", "/run-detectors"), ("GET", "/health"), ("GET", "/alerts")):
            async with http.request(method, base + path) as resp:
                assert resp.status == 200
                answers.append(await resp.text())
    assert "***@127.0.0.1" in answers[0]

    everything = "\n".join([chat_texts(h), await stored_text(h), *answers])
    leaked = [s for s in URL_SECRETS if s in everything]
    assert leaked == []


PY = sys.executable
LEAK = """
import os, sys
print("API_TOKEN=api-tok-6f6f6f6f")
print("WEBHOOK_SECRET=whsec-9c9c9c")
print("ALERTMANAGER_WEBHOOK_TOKEN=amhook-tok-7a7a")
print("deploy --token flag-tok-0d0d --verbose")
print("bare:", "api-tok-6f6f6f6f", "shop-pw-5e5e", "ping-tok-8b8b", os.environ.get("DEPLOY_TOKEN"))
print("env:", json.dumps(sorted(os.environ)))
print("canary:", os.environ.get("OPSBOT_CANARY", "absent"), "greeting:", os.environ.get("GREETING"))
sys.exit(int(sys.argv[1]))
""".replace("import os, sys", "import json, os, sys")
ACTION_SECRETS = (
    "api-tok-6f6f6f6f",
    "whsec-9c9c9c",
    "amhook-tok-7a7a",
    "flag-tok-0d0d",
    "shop-pw-5e5e",
    "ping-tok-8b8b",
    "deploy-tok-1e1e",
    "canary-value",
)


@pytest.fixture
async def fixer(tmp_path: Path, emulator: BotApiEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("OPSBOT_CANARY", "canary-value")  # in opsbot's environment, so no action's
    db = tmp_path / "shop.db"
    shop = make_sqlite(db, "CREATE TABLE flags (name TEXT, v INT); INSERT INTO flags VALUES ('ok', 0), ('bad', 0);")
    env = "{GREETING: hello, DEPLOY_TOKEN: deploy-tok-1e1e}"
    config = f"""
targets:
  shop: "{shop}"
  vault: "postgresql+asyncpg://opsbot:shop-pw-5e5e@127.0.0.1:1/vault"
remediations:
  - {{name: leak_ok, kind: shell, retries: 0, env: {env}, command: [{PY}, -c, {json.dumps(LEAK)}, "0"]}}
  - {{name: leak_bad, kind: shell, retries: 0, env: {env}, command: [{PY}, -c, {json.dumps(LEAK)}, "3"]}}
detectors:
  - {{name: ok, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'ok'", alert_if: "> 0",
      remediation: leak_ok}}
  - {{name: bad, kind: sql, target: shop, query: "SELECT v FROM flags WHERE name = 'bad'", alert_if: "> 0",
      remediation: leak_bad}}
"""
    h = await start_harness(
        tmp_path,
        emulator,
        config,
        db,
        api_token="api-tok-6f6f6f6f",
        webhook_secret="whsec-9c9c9c",
        alertmanager_webhook_token="amhook-tok-7a7a",
        ping_token="ping-tok-8b8b",
    )
    yield h
    await h.app.stop()


async def test_remediation_runs_with_a_minimal_environment_and_every_secret_redacted(fixer: Harness) -> None:
    h = fixer
    sql(h.shop, "UPDATE flags SET v = 1")
    await h.sweep()
    for card in await h.wait_cards(ALERT_CHATS[0], 2):
        answer = await h.press(card, "Remediate", user_id=ADMIN, username="admin")
        assert answer["text"].endswith("started")
        await h.app.core.remediation.wait_idle()
    await h.delivered()
    texts = chat_texts(h)
    assert "✅ leak_ok succeeded" in texts and "❌ leak_bad failed after 1 attempt" in texts
    async with h.app.core.db.connect() as conn:
        outputs = [
            tuple(r) for r in await conn.execute(select(remediation_runs.c.output, remediation_runs.c.last_error))
        ]
        history = [
            tuple(r) for r in await conn.execute(select(remediation_history.c.output, remediation_history.c.details))
        ]
    stored = "\n".join(str(v) for row in [*outputs, *history] for v in row)
    everything = texts + "\n" + stored
    assert [s for s in ACTION_SECRETS if s in everything] == []
    # What the command saw: PATH, HOME and LANG at most, plus its `env:`.
    env_line = next(line for line in stored.splitlines() if line.startswith("env: "))
    names = set(json.loads(env_line.removeprefix("env: ")))
    assert (
        {"GREETING", "DEPLOY_TOKEN", "PATH"}
        <= names
        <= {"GREETING", "DEPLOY_TOKEN", "PATH", "HOME", "LANG", "LC_CTYPE"}
    )
    assert "canary: absent greeting: hello" in stored
    assert "API_TOKEN=<redacted>" in stored and "--token <redacted> --verbose" in stored
