"""The console (a Telegram Mini App at /app): driven in a real headless chromium (Debian's, through
playwright), against a running opsbot and the Bot API emulator.

One browser per module; each test its own opsbot, emulator and browser context (cookies of its own).
Skipped when chromium or playwright is not installed. With OPSBOT_CONSOLE_SCREENSHOTS=<folder>, the pages
are also saved there at phone size (the README's docs/console-*.png)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
import pytest_asyncio
from harness import ADMIN, ALERT_CHATS, SHOP, TOKEN, Harness, config_text, start_harness
from sqlalchemy import insert, select

from bot.console.initdata import sign
from bot.emulator import BotApiEmulator
from helpers import make_sqlite
from ops.model import Actor
from ops.storage.console import ConsoleTokens, TokenOwner
from ops.storage.tables import alert_events, alerts_history, check_hourly

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.sqlite_only]
PHONE = {"width": 390, "height": 844}
PUBLIC = "https://console.example.com"
MEMBER = 1001  # alice: a member of the first alert chat, not an admin
SHOTS = os.environ.get("OPSBOT_CONSOLE_SCREENSHOTS", "")


def init_data(user_id: int, username: str, *, token: str = TOKEN, auth_date: float | None = None) -> str:
    """initData as a Telegram client gets it for this user, signed with `token`."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": username.title(), "username": username}),
        "auth_date": str(int(auth_date if auth_date is not None else time.time())),
    }
    fields["hash"] = sign(token, fields)
    return urlencode(fields)


def launch_url(base: str, data: str, theme: dict[str, str] | None = None) -> str:
    """The Mini App's URL as Telegram opens it: the launch parameters in the fragment."""
    fragment = {"tgWebAppData": data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "android"}
    if theme:
        fragment["tgWebAppThemeParams"] = json.dumps(theme)
    return f"{base}/app/#" + "&".join(f"{k}={quote(v, safe='')}" for k, v in fragment.items())


SLOS = """
slos:
  - name: payouts_on_time
    objective: 99.0
    window: 30d
    sli: {detector: cash_balance}
"""
DARK = {"bg_color": "#17212b", "secondary_bg_color": "#0e1621", "text_color": "#f5f5f5", "hint_color": "#708499"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2)
    pg = await context.new_page()
    yield pg
    await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    emu = BotApiEmulator()
    await emu.start()
    for chat in (*ALERT_CHATS, -1009):
        emu.add_chat(chat)
    for user in (ADMIN, MEMBER, 2002):
        emu.add_chat(user, "private")
    emu.add_member(ALERT_CHATS[0], MEMBER)
    shop = tmp_path / "shop.db"
    runbook = tmp_path / "rb.md"
    runbook.write_text("# rb\n", encoding="utf-8")
    config = config_text(make_sqlite(shop, SHOP), runbook) + SLOS
    harness = await start_harness(tmp_path, emu, config, shop, public_url=PUBLIC)
    yield harness
    await harness.app.stop()
    await emu.stop()


def base(h: Harness) -> str:
    return f"http://127.0.0.1:{h.app.http_port}"


async def fire(h: Harness) -> None:
    """Both balances go negative: two critical cash_balance alerts, cards in both alert chats."""
    h.set_balance("wb", -50000)
    h.set_balance("ozon", -70000)
    await h.sweep()
    await h.wait_cards(ALERT_CHATS[0], 2)


async def shoot(page: Any, name: str) -> None:
    if SHOTS:
        await page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"))


async def test_incident_list_shows_the_database_and_ack_edits_the_card(h: Harness, page: Any) -> None:
    await fire(h)
    groups = await h.app.core.incident_log.open()
    assert len(groups) == 2
    await page.goto(launch_url(base(h), init_data(MEMBER, "alice")))
    await page.wait_for_selector(".card.incident")
    shown = await page.eval_on_selector_all(
        ".card.incident", "els => els.map(e => [Number(e.dataset.id), e.querySelector('.title').textContent])"
    )
    assert sorted(shown) == sorted([g.id, f"#{g.id} {g.title}"] for g in groups)
    assert await page.text_content("#who") == "@alice"
    await shoot(page, "incidents")

    first = groups[0]
    card = next(c for c in h.cards(ALERT_CHATS[0]) if f"alert {first.alerts[0].id} " in c.text)
    edits = card.edits
    await page.click(f".card.incident[data-id='{first.id}'] button.ack")
    await page.wait_for_selector(f".card.incident[data-id='{first.id}'][data-state='acknowledged']")
    await h.emulator.wait_for(lambda: card.edits > edits and "alice" in card.text)
    assert "✅ Ack" not in [b["text"] for b in card.buttons]  # the card now offers Unack, as after a press
    events = await _events(h, first.alerts[0].id)
    assert ("pressed:ack", MEMBER) in events and ("acknowledged", MEMBER) in events

    await page.click(f".card.incident[data-id='{first.id}'] a.title")
    await page.wait_for_selector(".timeline li")
    kinds = await page.eval_on_selector_all(".timeline li b", "els => els.map(e => e.textContent)")
    assert kinds == [e.kind for e in (await h.app.core.incident_log.get(first.id)).timeline]
    assert "acknowledged" in " ".join(kinds)
    await shoot(page, "incident")


async def _events(h: Harness, alert_id: int) -> list[tuple[str, int | None]]:
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(alert_events.c.event, alert_events.c.actor_id).where(alert_events.c.incident_id == alert_id)
        )
        return [(r.event, r.actor_id) for r in rows]


async def test_silence_preview_is_what_the_silence_mutes(h: Harness, page: Any) -> None:
    await fire(h)
    alerts = sorted((a for g in await h.app.core.incident_log.open() for a in g.alerts), key=lambda a: a.id)
    # One of them is silenced already (by its fingerprint): a new silence would match it but not be its mute.
    await h.app.core.chat_silences.create(
        chat_id=None,
        kind="fingerprint",
        value=alerts[0].fingerprint,
        label=None,
        seconds=3600,
        incident_id=None,
        reason="earlier",
        actor=Actor(ADMIN, "@root"),
    )
    await page.goto(launch_url(base(h), init_data(ADMIN, "root"), DARK))
    await page.wait_for_selector("#who:has-text('admin')")
    await page.goto(f"{base(h)}/app/#/silences")
    await page.fill("#silence-target", "team=finance")
    await page.wait_for_selector("#silence-preview li")
    items = await page.eval_on_selector_all(
        "#silence-preview li", "els => els.map(e => [Number(e.dataset.id), e.dataset.mutes === 'true'])"
    )
    assert sorted(map(tuple, items)) == [(alerts[0].id, False), (alerts[1].id, True)]
    await shoot(page, "silences")
    await page.click("#silence-create")
    await page.wait_for_selector(".card.silence >> nth=1")
    previewed = {i for i, mutes in items if mutes}
    async with h.app.core.db.connect() as conn:
        newest = max(s.id for s in await h.app.core.chat_silences.silences_for(0, True))
        muted = set(
            await conn.scalars(
                select(alerts_history.c.id).where(
                    alerts_history.c.muted == "silenced", alerts_history.c.muted_by == str(newest)
                )
            )
        )
    assert muted == previewed


async def test_forged_stale_or_missing_init_data_gets_401_and_nothing_else(h: Harness, page: Any) -> None:
    await fire(h)
    url = f"{base(h)}/app/api/incidents"
    day_old = time.time() - 86400 - 120
    cases = {
        "forged": init_data(ADMIN, "root", token="654321:OTHER-token-abcdefghijklmnopqrst"),
        "stale": init_data(ADMIN, "root", auth_date=day_old),
        "tampered": init_data(MEMBER, "alice").replace("alice", "root"),
        "not tma": None,
    }
    async with aiohttp.ClientSession() as http:
        for name, data in cases.items():
            headers = {"Authorization": f"tma {data}" if data else "Bearer x"}
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 401, name
                assert set(await resp.json()) == {"error"}, name
        async with http.get(url) as resp:
            assert resp.status == 401
        async with http.post(f"{base(h)}/app/api/incidents/1/ack") as resp:
            assert resp.status == 401
        async with http.get(url, headers={"Authorization": f"tma {init_data(ADMIN, 'root')}"}) as resp:
            assert resp.status == 200
            body = await resp.json()
            assert {"id", "title", "severity", "state"} <= set(body[0])
        # A valid user who is in none of the bot's chats: signed by Telegram, but nothing for them.
        async with http.get(url, headers={"Authorization": f"tma {init_data(2002, 'eve')}"}) as resp:
            assert resp.status == 403
    async with h.app.core.db.connect() as conn:
        before = await conn.scalar(select(alerts_history.c.status).where(alerts_history.c.id == 1))
    await page.goto(launch_url(base(h), cases["forged"]))
    await page.wait_for_selector("#login-needed")
    assert await page.locator(".card.incident").count() == 0
    assert before == "firing"


async def test_a_login_link_works_once(h: Harness, page: Any) -> None:
    await fire(h)
    before = {m.message_id for m in h.emulator.bot_messages(MEMBER)}
    h.emulator.send_text(MEMBER, "/console", user_id=MEMBER, username="alice")
    await h.emulator.wait_for(lambda: [m for m in h.emulator.bot_messages(MEMBER) if m.message_id not in before])
    answer = next(m for m in h.emulator.bot_messages(MEMBER) if m.message_id not in before)
    link = re.search(r"https://\S+", answer.text)
    assert link is not None and link.group(0).startswith(f"{PUBLIC}/app/login?token=")
    local = link.group(0).replace(PUBLIC, base(h))
    await page.goto(local)
    await page.wait_for_selector(".card.incident")
    assert page.url.endswith("/app/")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["opsbot_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["expires"] > time.time()
    second = await page.goto(local)
    assert second is not None and second.status == 401
    assert "used already" in await page.text_content("body")
    # The session still works: the cookie alone is accepted by the API.
    await page.goto(f"{base(h)}/app/#/incidents")
    await page.wait_for_selector(".card.incident")
    # A link older than 10 minutes is refused too.
    assert h.app.console is not None
    path = await h.app.console.login_link(TokenOwner(MEMBER, "@alice"))
    tokens = ConsoleTokens(h.app.core.db)
    assert await tokens.redeem_login(path.split("=", 1)[1], _later(11)) is None
    assert await tokens.redeem_login(path.split("=", 1)[1], _later(9)) == TokenOwner(MEMBER, "@alice")


async def _history(h: Harness) -> None:
    """30 days of hourly checks (a bad afternoon 9 days ago, a worse one today) for the screenshots."""
    now = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    rows = []
    for hours_ago in range(1, 30 * 24):
        bad = 10 if 9 * 24 <= hours_ago < 9 * 24 + 5 else 6 if hours_ago in (2, 3, 30) else 0
        for detector in ("cash_balance", "shop_size"):
            rows.append({"detector": detector, "hour": now - timedelta(hours=hours_ago), "total": 12, "good": 12 - bad})
    async with h.app.core.db.begin() as conn:
        await conn.execute(insert(check_hourly), rows)


def _later(minutes: int) -> datetime:
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=minutes)


async def test_console_buttons_and_the_pages_at_phone_size(h: Harness, page: Any) -> None:
    await fire(h)
    admin_answer = await h.command(ADMIN, "/health", user_id=ADMIN, username="root")
    web_app = admin_answer.button("Console")
    assert web_app["web_app"]["url"] == f"{PUBLIC}/app/"
    group_answer = await h.command(ALERT_CHATS[0], "/alerts", user_id=MEMBER)
    assert group_answer.button("Console")["url"] == "https://t.me/opsbot?startapp=console"
    if not SHOTS:
        return
    await _history(h)
    for name, path in (("detectors", "detectors"), ("slos", "slos"), ("runs", "runs")):
        await page.goto("about:blank")
        await page.goto(launch_url(base(h), init_data(ADMIN, "root"), DARK if name == "slos" else None))
        await page.wait_for_selector("#who:has-text('admin')")
        await page.goto(f"{base(h)}/app/#/{path}")
        await page.wait_for_selector(f"#view[data-page='{path}']")
        await shoot(page, name)
