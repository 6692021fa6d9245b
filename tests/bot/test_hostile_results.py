"""Whatever a target returns, a detector never goes blind: repeated keys are one incident (the worst row
counts), long keys and NUL bytes are stored (on PostgreSQL too), and a failure while processing one
detector's results is that detector's error, never another detector's loss."""

from __future__ import annotations

import aiohttp
from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, CARD, Harness
from sqlalchemy import func, select, text

from helpers import sql
from ops.storage.tables import alerts_history, check_results


async def incidents(h: Harness, source: str = "cash_balance") -> list[tuple[str, str, str]]:
    """(key, status, message) of every incident of `source`, oldest first."""
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(alerts_history.c.key, alerts_history.c.status, alerts_history.c.message)
            .where(alerts_history.c.source == source)
            .order_by(alerts_history.c.id)
        )
        return [tuple(r) for r in rows]


async def checks(h: Harness, detector: str) -> list[tuple[str, str, str]]:
    """(key, status, message) of every stored check result of `detector`, oldest first."""
    async with h.app.core.db.connect() as conn:
        rows = await conn.execute(
            select(check_results.c.key, check_results.c.status, check_results.c.message)
            .where(check_results.c.detector == detector)
            .order_by(check_results.c.id)
        )
        return [tuple(r) for r in rows]


async def admin_sweep(h: Harness) -> str:
    return (await h.command(ADMIN_CHAT, "/sweep", user_id=ADMIN, username="boss")).text


async def test_a_repeated_key_is_one_incident_and_the_worst_row_counts(harness: Harness) -> None:
    h = harness
    # wb twice, failing first: today the second row resolves the incident the first has not yet written.
    h.set_balance("wb", -20000)
    sql(h.shop, "INSERT INTO balances VALUES ('wb', 500)")
    answer = await admin_sweep(h)
    assert "1 failing" in answer and "cash_balance[wb] = -20,000" in answer
    [card] = await h.wait_cards(ALERT_CHATS[0], 1)
    assert "cash_balance[wb]" in card.text and "-20,000" in card.text
    assert "2 rows for this key" in card.text
    assert len(await checks(h, "shop_size")) == 1  # the other detector of the sweep kept its result

    # Both rows failing: still one incident, now with the worse value.
    sql(h.shop, "UPDATE balances SET balance = -30000 WHERE marketplace = 'wb' AND balance = 500")
    await h.delivered()
    assert "cash_balance[wb] = -30,000" in await admin_sweep(h)
    [(key, status, message)] = await incidents(h)
    assert (key, status) == ("wb", "firing") and "-30,000" in message
    assert [k for k, s, _ in await checks(h, "cash_balance") if k == "wb"] == ["wb", "wb"]  # one per sweep

    # Both pass: the one incident resolves, and its chats are told.
    sql(h.shop, "UPDATE balances SET balance = 100 WHERE marketplace = 'wb'")
    assert "All detectors pass" in await admin_sweep(h)
    assert [s for _, s, _ in await incidents(h)] == ["resolved"]
    await h.emulator.wait_for(lambda: any("RESOLVED" in m.text for m in h.emulator.bot_messages(ALERT_CHATS[0])))
    await h.delivered()
    assert len([m for m in h.emulator.bot_messages(ALERT_CHATS[0]) if CARD.search(m.text)]) == 1


async def test_a_repeated_key_does_not_break_the_api_sweep(harness: Harness) -> None:
    h = harness
    sql(h.shop, "INSERT INTO balances VALUES ('wb', -20000), ('wb', -25000)")
    report = await h.sweep()
    assert [r.message for r in report.failing] == [
        "cash_balance[wb] = -25,000 (alert if < -10000) · 3 rows for this key, the worst counts"
    ]
    assert len(await incidents(h)) == 1
    assert len(await h.wait_cards(ALERT_CHATS[0], 1)) == 1


async def test_long_keys_and_nul_bytes_are_stored_and_alerted(harness: Harness) -> None:
    h = harness
    long_a, long_b = "A" * 250 + "1", "A" * 250 + "2"  # differ only past the column's 200 characters
    sql(
        h.shop,
        "INSERT INTO balances VALUES (?, -20000), (?, -20000), ('nul' || char(0) || 'key', -20000)",
        (long_a, long_b),
    )
    answer = await admin_sweep(h)
    assert "3 failing" in answer
    cards = await h.wait_cards(ALERT_CHATS[0], 3)
    stored = await incidents(h)
    keys = sorted(k for k, _, _ in stored)
    assert len(set(keys)) == 3 and "nulkey" in keys
    long_keys = [k for k in keys if k.startswith("AAAA")]
    assert all(len(k) <= 200 for k in long_keys) and long_keys[0] != long_keys[1]
    assert all("\x00" not in m for _, _, m in stored)
    assert any("nulkey" in c.text for c in cards)
    # The next sweep finds the same incidents (the shortened keys are stable), and shop_size kept its results.
    await admin_sweep(h)
    assert [s for _, s, _ in await incidents(h)] == ["firing"] * 3
    assert len(await checks(h, "shop_size")) == 2


async def test_a_failure_processing_one_detector_is_its_error_alone(harness: Harness) -> None:
    """An incident row made unreadable by hand (extras that are not an object) breaks only its detector."""
    h = harness
    h.set_balance("wb", -20000)
    await admin_sweep(h)
    await h.wait_cards(ALERT_CHATS[0], 1)
    await h.delivered()
    async with h.app.core.db.begin() as conn:
        await conn.execute(text("UPDATE ops_alerts_history SET extras_json = '[]'"))
    answer = await admin_sweep(h)
    assert "cash_balance: its results could not be processed" in answer
    assert len(await checks(h, "shop_size")) == 2  # the other detector of the same sweep
    [*_, last] = await checks(h, "cash_balance")
    assert last[:2] == ("", "error") and "TypeError" in last[2]
    # The error is an alert in its own right: the detector is not silently blind.
    cards = await h.wait_cards(ALERT_CHATS[0], 2)
    assert any("its results could not be processed" in c.text for c in cards)


async def test_a_refused_write_is_retried_per_detector(harness: Harness, db_backend: str) -> None:
    """The database refuses one detector's rows (a trigger a DBA added): the others of the batch are stored."""
    h = harness
    refuse = "RAISE(ABORT, 'wb is frozen')"
    async with h.app.core.db.begin() as conn:
        if db_backend == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER frozen BEFORE INSERT ON ops_check_results WHEN NEW.key = 'wb' "
                    f"BEGIN SELECT {refuse}; END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF NEW.key = 'wb' THEN RAISE EXCEPTION 'wb is frozen'; END IF; RETURN NEW; END $$"
                )
            )
            await conn.execute(
                text("CREATE TRIGGER frozen BEFORE INSERT ON ops_check_results FOR EACH ROW EXECUTE FUNCTION frozen()")
            )
    answer = await admin_sweep(h)
    assert "cash_balance: its results could not be processed" in answer and "wb is frozen" in answer
    assert len(await checks(h, "shop_size")) == 1
    assert [(k, s) for k, s, _ in await checks(h, "cash_balance")] == [("", "error")]


async def test_one_alertmanager_post_with_an_alert_firing_and_resolved(harness: Harness) -> None:
    h = harness
    alert = {"labels": {"alertname": "DiskFull", "instance": "db1"}, "annotations": {"summary": "disk full"}}
    other = {"labels": {"alertname": "CpuHot", "instance": "db2"}, "annotations": {"summary": "cpu hot"}}
    body = {
        "version": "4",
        "alerts": [
            {**alert, "status": "firing", "fingerprint": "f1"},
            {**alert, "status": "resolved", "fingerprint": "f1"},
            {**other, "status": "firing", "fingerprint": "f2"},
        ],
    }
    url = f"http://127.0.0.1:{h.app.http_port}/alertmanager"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200
    assert [(k, s) for k, s, _ in await incidents(h, "am:DiskFull")] == [("f1", "firing")]
    assert [(k, s) for k, s, _ in await incidents(h, "am:CpuHot")] == [("f2", "firing")]
    cards = await h.wait_cards(ALERT_CHATS[0], 2)
    assert sorted(c.text.split("\n")[0].split(" · ")[1] for c in cards) == ["am:CpuHot", "am:DiskFull"]
    async with h.app.core.db.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(alerts_history)) == 2


async def test_alertmanager_nul_bytes_and_lone_surrogates_are_stored(harness: Harness) -> None:
    h = harness
    body = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Disk\u0000Full", "instance": "db\u00001"},
                "annotations": {"summary": "disk \u0000 full \ud800"},
                "fingerprint": "fp\u00001",
            }
        ],
    }
    url = f"http://127.0.0.1:{h.app.http_port}/alertmanager"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200
    [(key, status, message)] = await incidents(h, "am:DiskFull")
    assert (key, status, message) == ("fp1", "firing", "disk  full \ufffd")
    [card] = await h.wait_cards(ALERT_CHATS[0], 1)
    assert "am:DiskFull" in card.text


async def test_an_alertmanager_alert_that_cannot_be_processed_is_an_error_until_it_can(harness: Harness) -> None:
    h = harness
    url = f"http://127.0.0.1:{h.app.http_port}/alertmanager"
    alert = {"status": "firing", "labels": {"alertname": "DiskFull"}, "fingerprint": "f1"}
    other = {"status": "firing", "labels": {"alertname": "CpuHot"}, "fingerprint": "f2"}

    async def post(*alerts: dict) -> None:
        async with aiohttp.ClientSession() as http, http.post(url, json={"version": "4", "alerts": alerts}) as r:
            assert r.status == 200

    await post(alert)
    await h.wait_cards(ALERT_CHATS[0], 1)
    await h.delivered()
    async with h.app.core.db.begin() as conn:
        await conn.execute(text("UPDATE ops_alerts_history SET extras_json = '[]'"))
    await post(alert, other)
    errors = [(k, s) for k, s, m in await incidents(h, "am:DiskFull") if "could not be processed" in m]
    assert errors == [("", "firing")]
    assert [(k, s) for k, s, _ in await incidents(h, "am:CpuHot")] == [("f2", "firing")]
    cards = await h.wait_cards(ALERT_CHATS[0], 3)
    assert any("am:DiskFull: its results could not be processed (TypeError" in c.text for c in cards)
    # Repaired, the next notification is processed, and that ends the error.
    async with h.app.core.db.begin() as conn:
        await conn.execute(text("UPDATE ops_alerts_history SET extras_json = '{}' WHERE extras_json = '[]'"))
    await post(alert)
    assert sorted((k, s) for k, s, _ in await incidents(h, "am:DiskFull")) == [("", "resolved"), ("f1", "firing")]


async def test_alertmanager_annotations_with_credentials_reach_no_chat(harness: Harness) -> None:
    """A runbook or dashboard URL with a password in an annotation is redacted before it is stored."""
    h = harness
    body = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ScrapeDown"},
                "annotations": {
                    "summary": "cannot scrape http://scraper:hunter2secret@10.0.0.5:9100/metrics",
                    "runbook_url": "https://wiki.example.com/rb?token=abcdef123456",
                },
                "fingerprint": "fp-creds",
            }
        ],
    }
    url = f"http://127.0.0.1:{h.app.http_port}/alertmanager"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 200
    [(_, _, message)] = await incidents(h, "am:ScrapeDown")
    [card] = await h.wait_cards(ALERT_CHATS[0], 1)
    for shown in (message, card.text):
        assert "hunter2secret" not in shown and "abcdef123456" not in shown
        assert "scraper:***@10.0.0.5" in shown
