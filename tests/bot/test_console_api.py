"""The console's JSON (`/app/api/*`) without a browser: a member of one alert chat sees and acts on that
chat's incidents, silences, runs and checks only — through every endpoint, as in the chat; bad input to any
endpoint is a 4xx with one JSON line (never a 500), and the server keeps serving; a POST carrying the session
cookie from another site's page is refused."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from harness import ADMIN, ALERT_CHATS, TOKEN, Harness, start_harness
from sqlalchemy import insert, select

from bot.console.initdata import sign
from bot.emulator import BotApiEmulator
from helpers import make_sqlite
from ops.model import Actor
from ops.storage.console import SESSION, ConsoleTokens, TokenOwner
from ops.storage.tables import alert_events, alerts_history, remediation_runs

pytestmark = pytest.mark.sqlite_only
PY = sys.executable
DISK_CHAT, CACHE_CHAT = ALERT_CHATS
MEMBER = 1001  # alice: in the disk chat only, not an admin
PUBLIC = "https://console.example.com"


def init_data(user_id: int, username: str) -> str:
    fields = {
        "user": json.dumps({"id": user_id, "first_name": username.title(), "username": username}),
        "auth_date": str(int(time.time())),
    }
    fields["hash"] = sign(TOKEN, fields)
    return urlencode(fields)


MEMBER_AUTH = {"Authorization": f"tma {init_data(MEMBER, 'alice')}"}
ADMIN_AUTH = {"Authorization": f"tma {init_data(ADMIN, 'root')}"}


@pytest.fixture
async def routed(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Harness]:
    """Two detectors, each routed to one alert chat; both firing; alice is a member of the disk chat."""
    db = tmp_path / "shop.db"
    shop = make_sqlite(
        db,
        "CREATE TABLE flags (name TEXT, k TEXT, v INT);"
        "INSERT INTO flags VALUES ('disk', 'disk-host-1', 1), ('cache', 'cache-secret-host', 1);",
    )
    config = f"""
targets: {{shop: "{shop}"}}
routes:
  - {{match: {{detector: disk}}, chats: [{DISK_CHAT}]}}
  - {{match: {{detector: cache}}, chats: [{CACHE_CHAT}]}}
remediations:
  - {{name: clean_disk, kind: shell, command: [{PY}, -c, "print('cleaned')"]}}
  - {{name: clear_cache, kind: shell, command: [{PY}, -c, "print('cleared')"]}}
detectors:
  - {{name: disk, kind: sql, target: shop, query: "SELECT k, v FROM flags WHERE name = 'disk'", alert_if: "> 0",
      severity: error, labels: {{team: infra}}}}
  - {{name: cache, kind: sql, target: shop, query: "SELECT k, v FROM flags WHERE name = 'cache'", alert_if: "> 0",
      severity: error, labels: {{team: web}}}}
"""
    emulator.add_member(DISK_CHAT, MEMBER)
    h = await start_harness(tmp_path, emulator, config, db, public_url=PUBLIC)
    await h.sweep()
    await h.wait_cards(DISK_CHAT, 1)
    await h.wait_cards(CACHE_CHAT, 1)
    yield h
    await h.app.stop()


def base(h: Harness) -> str:
    return f"http://127.0.0.1:{h.app.http_port}/app/api"


async def call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **kw: Any
) -> tuple[int, Any, str]:
    async with http.request(method, url, headers=headers, **kw) as resp:
        text = await resp.text()
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        return resp.status, body, resp.headers.get("Content-Type", "")


async def _alert(h: Harness, source: str) -> Any:
    [group] = [g for g in await h.app.core.incident_log.open() if g.alerts[0].source == source]
    return group


async def test_a_member_of_one_chat_sees_and_acts_on_nothing_of_another_chats(routed: Harness) -> None:
    h = routed
    disk, cache = await _alert(h, "disk"), await _alert(h, "cache")
    silences = h.app.core.chat_silences
    admin = Actor(ADMIN, "@root")
    common = {"label": None, "seconds": 3600, "incident_id": None, "actor": admin}
    theirs, _ = await silences.create(
        chat_id=CACHE_CHAT, kind="detector", value="cache", reason="cache-chat-reason", **common
    )
    mine, _ = await silences.create(
        chat_id=DISK_CHAT, kind="label", value="nobody", reason="disk-chat-reason", **{**common, "label": "team"}
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    async with h.app.core.db.begin() as conn:
        for action, alert in (("clean_disk", disk.alerts[0].id), ("clear_cache", cache.alerts[0].id)):
            await conn.execute(
                insert(remediation_runs).values(
                    started_at=now,
                    action=action,
                    incident_id=alert,
                    trigger="auto",
                    status="failed",
                    attempts=1,
                    last_error=f"{action} went wrong",
                )
            )
    url = base(h)
    async with aiohttp.ClientSession() as http:
        status, body, _ = await call(http, "GET", f"{url}/incidents", MEMBER_AUTH)
        assert status == 200 and [i["id"] for i in body] == [disk.id]
        assert (await call(http, "GET", f"{url}/incidents/{disk.id}", MEMBER_AUTH))[0] == 200
        assert (await call(http, "GET", f"{url}/incidents/{cache.id}", MEMBER_AUTH))[0] == 404
        assert (await call(http, "POST", f"{url}/incidents/{cache.id}/ack", MEMBER_AUTH))[0] == 404
        assert (await call(http, "POST", f"{url}/alerts/{cache.alerts[0].id}/ack", MEMBER_AUTH))[0] == 404
        assert (await call(http, "POST", f"{url}/incidents/{cache.id}/silence", MEMBER_AUTH))[0] == 403
        assert (await call(http, "POST", f"{url}/incidents/{disk.id}/silence", MEMBER_AUTH))[0] == 403
        status, body, _ = await call(http, "GET", f"{url}/silences", MEMBER_AUTH)
        assert status == 200 and [s["id"] for s in body] == [mine.id]
        assert "cache-chat-reason" not in json.dumps(body)
        assert (await call(http, "POST", f"{url}/silences/{theirs.id}/expire", MEMBER_AUTH))[0] == 403
        assert (await call(http, "POST", f"{url}/silences/{mine.id}/expire", MEMBER_AUTH))[0] == 403
        preview = {"json": {"target": "cache"}}
        assert (await call(http, "POST", f"{url}/silences/preview", MEMBER_AUTH, **preview))[0] == 403
        made = {"json": {"target": "cache", "duration": "1h"}}
        assert (await call(http, "POST", f"{url}/silences", MEMBER_AUTH, **made))[0] == 403
        status, body, _ = await call(http, "GET", f"{url}/runs", MEMBER_AUTH)
        assert status == 200 and [r["action"] for r in body] == ["clean_disk"]
        # Detectors: the cache chat's checks (their keys, their messages) are not alice's to read; her
        # chat's are. Counts are shown for every detector, as /health does in a chat.
        status, body, _ = await call(http, "GET", f"{url}/detectors", MEMBER_AUTH)
        assert status == 200 and {d["name"] for d in body} == {"disk", "cache"}
        assert "cache-secret-host" not in json.dumps(body)
        by_name = {d["name"]: d for d in body}
        assert [c["key"] for c in by_name["disk"]["last"]] == ["disk-host-1"]
        assert by_name["cache"]["last"][0]["ok"] is False and by_name["cache"]["last"][0]["message"] == ""
        # The admin sees all of it.
        status, body, _ = await call(http, "GET", f"{url}/detectors", ADMIN_AUTH)
        assert "cache-secret-host" in json.dumps(body)
        status, body, _ = await call(http, "GET", f"{url}/runs", ADMIN_AUTH)
        assert sorted(r["action"] for r in body) == ["clean_disk", "clear_cache"]
    async with h.app.core.db.connect() as conn:
        cache_status = await conn.scalar(
            select(alerts_history.c.status).where(alerts_history.c.id == cache.alerts[0].id)
        )
        refused = (await conn.execute(select(alert_events.c.actor_id).where(alert_events.c.event == "refused"))).all()
    assert cache_status == "firing"
    assert refused and all(r.actor_id == MEMBER for r in refused)
    assert [s.id for s in await silences.silences_for(0, True)] == sorted([theirs.id, mine.id])


async def test_bad_input_to_every_endpoint_is_a_4xx_json_line(routed: Harness) -> None:
    h = routed
    url = base(h)
    deep = "[" * 100_000
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "silences/preview", {"data": deep}),
        ("POST", "silences", {"data": deep}),
        ("POST", "silences/preview", {"data": b"\xff\xfe not json"}),
        ("POST", "silences/preview", {"data": "[1, 2]"}),
        ("POST", "silences/preview", {"json": {"target": "#"}}),
        ("POST", "silences/preview", {"json": {"target": {"a": [1]}}}),
        ("POST", "silences", {"json": {"target": "disk", "duration": "1e999h"}}),
        ("POST", "silences", {"json": {"target": "disk", "duration": "-5m"}}),
        ("POST", "silences", {"json": {"target": "disk", "duration": None}}),
        ("POST", "silences", {"data": json.dumps({"target": "disk", "reason": "x" * 200_000})}),
        ("POST", "silences/%C2%B2/expire", {}),
        ("POST", "silences/99999999999999999999/expire", {}),
        ("POST", "silences/-1/expire", {}),
        ("GET", "incidents/%C2%B2", {}),
        ("GET", "incidents/0x10", {}),
        ("POST", "incidents/%C2%B2/ack", {}),
        ("POST", "alerts/%C2%B2/ack", {}),
        ("POST", "alerts/99999999999999999999/ack", {}),
        ("POST", "incidents/99999999999999999999/silence", {}),
        ("GET", "incidents/1/nothing", {}),
        ("DELETE", "incidents", {}),
        ("PUT", "silences", {}),
    ]
    async with aiohttp.ClientSession() as http:
        for method, path, kw in cases:
            status, body, kind = await call(http, method, f"{url}/{path}", ADMIN_AUTH, **kw)
            assert 400 <= status < 500, (method, path, status, body)
            assert kind.startswith("application/json") and set(body) == {"error"}, (method, path, body)
        status, body, _ = await call(http, "GET", f"{url}/incidents", ADMIN_AUTH)
        assert status == 200 and len(body) == 2  # still serving


async def test_a_cookie_post_from_another_sites_page_is_refused(routed: Harness) -> None:
    """The session cookie is SameSite=Strict; a page on a sibling host (same site) would still send it, so a
    POST whose Origin (or Sec-Fetch-Site) is another site's is refused before anything is done."""
    h = routed
    cache = await _alert(h, "cache")
    secret = await ConsoleTokens(h.app.core.db).issue(
        SESSION, TokenOwner(ADMIN, "@root"), datetime.now(UTC).replace(tzinfo=None), timedelta(hours=1)
    )
    cookie = {"Cookie": f"opsbot_console={secret}"}
    url = base(h)
    async with aiohttp.ClientSession() as http:
        for foreign in (
            {"Origin": "https://evil.example.com"},
            {"Origin": "https://status.console.example.com"},
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            for path in (f"incidents/{cache.id}/ack", f"incidents/{cache.id}/silence", "logout"):
                status, body, _ = await call(http, "POST", f"{url}/{path}", {**cookie, **foreign})
                assert status == 403 and set(body) == {"error"}, (foreign, path)
        assert (await call(http, "GET", f"{url}/incidents", cookie))[0] == 200
        # From its own page (the public address, or the address it was opened at), the same POST works.
        own = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}
        status, body, _ = await call(http, "POST", f"{url}/incidents/{cache.id}/ack", {**cookie, **own})
        assert status == 200 and body["acknowledged"] == [cache.alerts[0].id]
        local = {"Origin": f"http://127.0.0.1:{h.app.http_port}"}
        assert (await call(http, "POST", f"{url}/logout", {**cookie, **local}))[0] == 200


async def test_the_console_button_stays_under_alerts_when_paging(routed: Harness) -> None:
    h = routed
    answer = await h.command(ADMIN, "/alerts 1", user_id=ADMIN, username="root")  # two alerts: two pages
    assert "web_app" in answer.button("Console")
    first = answer.text
    await h.press(answer, "▶", user_id=ADMIN, username="root")
    assert answer.text != first  # the next page, in the same message
    assert "web_app" in answer.button("Console")


async def test_a_head_request_does_not_use_up_a_login_link(routed: Harness) -> None:
    """Link checkers and previewers ask with HEAD: the link still works once for the person."""
    h = routed
    assert h.app.console is not None
    path = await h.app.console.login_link(TokenOwner(MEMBER, "@alice"))
    link = f"http://127.0.0.1:{h.app.http_port}{path}"
    async with aiohttp.ClientSession() as http:
        async with http.head(link, allow_redirects=False) as resp:
            assert resp.status == 200 and "opsbot_console" not in resp.cookies
        async with http.get(link, allow_redirects=False) as resp:
            assert resp.status == 303 and "opsbot_console" in resp.cookies
        async with http.get(link, allow_redirects=False) as resp:
            assert resp.status == 401


async def test_a_storm_incident_lists_twenty_of_its_alerts_and_says_how_many(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    """One incident of 30 alerts (grouped by team): the list stays small; the incident's page has them all."""
    db = tmp_path / "shop.db"
    rows = ", ".join(f"('q{i:02d}', 1)" for i in range(30))
    shop = make_sqlite(db, f"CREATE TABLE lag (k TEXT, v INT); INSERT INTO lag VALUES {rows};")
    config = f"""
targets: {{shop: "{shop}"}}
routes:
  - {{match: {{}}, chats: [{DISK_CHAT}], group_by: [team]}}
detectors:
  - {{name: lag, kind: sql, target: shop, query: "SELECT k, v FROM lag", alert_if: "> 0", labels: {{team: infra}}}}
"""
    h = await start_harness(tmp_path, emulator, config, db, public_url=PUBLIC)
    try:
        await h.sweep()
        async with aiohttp.ClientSession() as http:
            status, body, _ = await call(http, "GET", f"{base(h)}/incidents", ADMIN_AUTH)
            assert status == 200
            [incident] = body
            assert incident["alerts_total"] == 30 and len(incident["alerts"]) == 20
            status, page, _ = await call(http, "GET", f"{base(h)}/incidents/{incident['id']}", ADMIN_AUTH)
            assert status == 200 and len(page["alerts"]) == 30
    finally:
        await h.app.stop()
