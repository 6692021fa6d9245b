"""A target's odd rows through every way of sweeping (the CLI's `sweep --once`, the API's run-detectors),
and the intake rules themselves: one result per key, the worst counting, keys and text made storable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import aiohttp
import pytest

from bot.app import OpsBotApp
from bot.cli import main
from helpers import database_url, make_settings, make_sqlite, query
from ops.config import parse_config
from ops.engine.intake import accept, accept_runs
from ops.model import CheckResult, CheckStatus, Severity
from ops.storage.clean import KEY_LIMIT, actor_name, clean_text, shorten, storage_key

# wb three times (one row failing, its worst -7), a long key, a NUL in a key.
ROWS = "('wb', 5), ('wb', -5), ('wb', -7), ('ozon', 3), (printf('%.300c', 'k'), 1), ('x' || char(0) || 'y', 2)"


def workspace(tmp_path: Path) -> str:
    shop = make_sqlite(tmp_path / "shop.db", f"CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES {ROWS};")
    return f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: critical}}
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}}
"""


def test_sweep_once_with_odd_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    (tmp_path / "opsbot.yaml").write_text(workspace(tmp_path), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database_url(tmp_path / "ops.db"))
    monkeypatch.setenv("OPSBOT_CONFIG", str(tmp_path / "opsbot.yaml"))
    monkeypatch.setenv("ALERT_CHAT_IDS", "-1001")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main(["sweep", "--once", "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    keys = [r["key"] for r in results if r["detector"] == "cash_balance"]
    assert keys[:3] == ["wb", "ozon", "k" * (KEY_LIMIT - 17) + "…" + keys[2][-16:]] and keys[3] == "xy"
    [wb] = [r for r in results if r["key"] == "wb"]
    assert wb["value"] == -7 and wb["message"].endswith("· 3 rows for this key, the worst counts")
    assert {r["detector"] for r in results} == {"cash_balance", "shop_size"}
    url = database_url(tmp_path / "ops.db")
    assert query(url, "SELECT key, status FROM ops_alerts_history") == [("wb", "firing")]
    assert query(url, "SELECT COUNT(*) FROM ops_check_results") == [(5,)]


async def test_run_detectors_with_odd_rows(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "ops.db", http_port=0, api_token="t0ken")
    app = OpsBotApp(settings, parse_config(workspace(tmp_path)), schedule=False)
    await app.start()
    try:
        url = f"http://127.0.0.1:{app.http_port}/api/v1/ops/run-detectors"
        headers = {"Authorization": "Bearer t0ken"}
        async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
            assert resp.status == 200
            run = await resp.json()
        assert (run["total_checks"], run["failed"]) == (5, 1)
    finally:
        await app.stop()


# -- the rules --------------------------------------------------------------------------------


def detector(alert_if: str):
    cfg = parse_config(
        f"""
targets: {{t: "sqlite+aiosqlite:///unused.db"}}
detectors:
  - {{name: d, kind: sql, target: t, query: "select 1", alert_if: "{alert_if}"}}
"""
    )
    return cfg.detectors[0]


def result(key: str, value: float | None, ok: bool = False, status: CheckStatus | None = None) -> CheckResult:
    status = status or (CheckStatus.ok if ok else CheckStatus.fail)
    return CheckResult("d", key, status, Severity.warning, f"d[{key}] = {value}", value=value)


@pytest.mark.no_ops_db
def test_the_worst_row_of_a_key_counts_in_the_condition_s_direction() -> None:
    rows = [result("a", 5, ok=True), result("a", 95), result("a", 99), result("b", 1, ok=True)]
    [a, b] = accept(detector("> 90"), rows)
    assert (a.value, b.value) == (99, 1) and a.message == "d[a] = 99 · 3 rows for this key, the worst counts"
    rows = [result("a", -5), result("a", -50), result("a", 7, ok=True)]
    assert accept(detector("< 0"), rows)[0].value == -50
    # Failing beats passing whatever the values; fail beats an error; NaN is no value.
    error = result("a", None, status=CheckStatus.error)
    assert accept(detector("< 0"), [result("a", -1e9, ok=True), error, result("a", math.nan)])[0].value != -1e9
    assert accept(detector("< 0"), [error, result("a", -1)])[0].status is CheckStatus.fail
    # Keys of one row each: untouched.
    once = [result("a", 1), result("b", 2)]
    assert accept(detector("< 0"), once) == once


@pytest.mark.no_ops_db
def test_alertmanager_sending_one_alert_twice_is_one_result_in_its_first_run() -> None:
    d = detector("< 0")
    firing, resolved, other = result("f1", None), result("f1", None, ok=True), result("f2", None)
    runs = accept_runs([(d, [firing]), (d, [resolved]), (d, [other])], partial=True)
    assert [(a.index, [r.key for r in a.results]) for a in runs] == [(0, ["f1"]), (2, ["f2"])]
    assert runs[0].results[0].status is CheckStatus.fail
    # Without `partial`, two runs of one detector are one run (each would resolve the other's keys).
    runs = accept_runs([(d, [firing]), (d, [other])], partial=False)
    assert [(a.index, [r.key for r in a.results]) for a in runs] == [(0, ["f1", "f2"])]


@pytest.mark.no_ops_db
def test_keys_and_text_are_made_storable() -> None:
    a, b = "k" * 300 + "a", "k" * 300 + "b"
    assert len(storage_key(a)) == KEY_LIMIT and storage_key(a) != storage_key(b)
    assert storage_key(storage_key(a)) == storage_key(a) and storage_key("wb") == "wb"
    assert storage_key("x\x00y") == "xy"
    assert clean_text("fire \ud83d\udd25 and \ud800 lone") == "fire 🔥 and \ufffd lone"
    assert shorten("e\u0301" * 10, 6) == "e\u0301e\u0301…"  # not between a letter and its accent
    assert shorten("👩\u200d💻" * 5, 6) == "👩\u200d💻…"  # nor inside a joined emoji
    name = actor_name("Ж" * 64 + " " + "Ω" * 64)
    assert len(name) == 128 and name.endswith("Ω…")
    assert actor_name("\x00 ") == "?"
