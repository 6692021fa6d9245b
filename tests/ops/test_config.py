"""Config errors name the file, the detector and the field; every error at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.config import ConfigError, load_config, parse_config
from ops.settings import SettingsError, load_settings
from ops.timeutil import parse_duration, parse_size

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose

GOOD = """
targets:
  shop: sqlite+aiosqlite:///data/shop.db
detectors:
  - name: cash_balance
    kind: sql
    target: shop
    query: SELECT 1
    alert_if: "< -10000"
    severity: critical
    every: 5m
    timeout: 10s
    for: 2
    labels: {team: finance}
  - name: telemetry_fresh
    kind: freshness
    target: shop
    query: SELECT MAX(ts) FROM t
    max_age: 3m
  - name: db_growth
    kind: db_size
    target: shop
    alert_if: "> 5GB"
"""


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return info.value.errors


def test_a_good_config_loads_with_durations_and_sizes() -> None:
    config = parse_config(GOOD, env={})
    cash, fresh, size = config.detectors
    assert (cash.every, cash.timeout, cash.for_, cash.alert_if.threshold) == (300, 10, 2, -10000)
    assert fresh.max_age == 180 and fresh.every is None
    assert size.alert_if.threshold == 5e9 and size.alert_if.fails(6e9)


def test_bad_alert_if_names_file_detector_and_field() -> None:
    text = GOOD.replace('alert_if: "< -10000"', 'alert_if: "-10000"').replace(
        "detectors:\n",
        "detectors:\n  - {name: a, kind: db_size, target: shop, alert_if: '> 1'}\n  - {name: b, kind: db_size, target: shop, alert_if: '> 1'}\n",
        1,
    )
    assert errors(text) == [
        'opsbot.yaml: detectors[2] (cash_balance).alert_if: expected an operator and a number, e.g. "< -10000"'
    ]


def test_every_error_is_reported_at_once() -> None:
    text = """
targets: {shop: "sqlite+aiosqlite:///x.db"}
detectors:
  - {name: Bad-Name, kind: sql, target: shop, query: x, alert_if: "< 1"}
  - {name: b, kind: sql, target: nowhere, query: x, alert_if: "< 1", every: 0s}
  - {name: c, kind: carrier_pigeon}
  - {name: d, kind: freshness, target: shop, query: x, max_age: soon, colour: red}
  - {name: b, kind: db_size, target: shop, alert_if: "> 5 parsecs"}
  - {name: e, kind: sql, target: shop, query: x, alert_if: "< 1", runbook: runbooks/missing.md}
  - {name: f, kind: sql, target: shop, query: x, alert_if: "< 1", for: 0}
"""
    found = errors(text)
    assert (
        "opsbot.yaml: detectors[0] (Bad-Name).name: use 1-48 lowercase letters, digits and _ (it appears in commands and metrics)"
        in found
    )
    assert "opsbot.yaml: detectors[1] (b).every: Value error, must be at least 1s".replace("Value error, ", "") in found
    assert (
        "opsbot.yaml: detectors[2] (c).kind: unknown kind 'carrier_pigeon' (expected one of sql, freshness, db_size, http, heartbeat, metrics, prometheus, python)"
        in found
    )
    assert any(e.startswith("opsbot.yaml: detectors[3] (d).max_age: expected a duration") for e in found)
    assert "opsbot.yaml: detectors[3] (d).colour: unknown field" in found
    assert any(e.startswith("opsbot.yaml: detectors[4] (b).alert_if: expected an operator and a size") for e in found)
    assert "opsbot.yaml: detectors[5] (e).runbook: file not found: runbooks/missing.md" in found
    assert any(e.startswith("opsbot.yaml: detectors[6] (f).for:") for e in found)


def test_unknown_target_and_duplicate_names() -> None:
    text = """
targets: {shop: "sqlite+aiosqlite:///x.db"}
detectors:
  - {name: a, kind: db_size, target: shop, alert_if: "> 1GB"}
  - {name: a, kind: db_size, target: warehouse, alert_if: "> 1GB"}
"""
    assert errors(text) == [
        "opsbot.yaml: detectors[1] (a).name: 'a' is already used by detectors[0]",
        "opsbot.yaml: detectors[1] (a).target: unknown target 'warehouse' (targets: shop)",
    ]


def test_env_variables_expand_and_a_missing_one_is_named() -> None:
    text = GOOD.replace('"< -10000"', '"< ${CF_NEGATIVE_BALANCE_ALERT_THRESHOLD}"').replace(
        "sqlite+aiosqlite:///data/shop.db", "${SHOP_URL}"
    )
    config = parse_config(
        text, env={"CF_NEGATIVE_BALANCE_ALERT_THRESHOLD": "-500", "SHOP_URL": "sqlite+aiosqlite:///s.db"}
    )
    assert config.detectors[0].alert_if.threshold == -500 and config.targets["shop"] == "sqlite+aiosqlite:///s.db"
    found = errors(text, env={"SHOP_URL": "x"})
    assert (
        found[0]
        == "opsbot.yaml: detectors[0] (cash_balance).alert_if: environment variable CF_NEGATIVE_BALANCE_ALERT_THRESHOLD is not set"
    )


def test_yaml_syntax_and_missing_file(tmp_path: Path) -> None:
    assert errors("detectors: [\n  - {")[0].startswith("opsbot.yaml (line")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.errors == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_runbook_paths_resolve_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "cash.md").write_text("# Cash")
    (tmp_path / "opsbot.yaml").write_text(GOOD.replace("    labels:", "    runbook: runbooks/cash.md\n    labels:"))
    config = load_config(tmp_path / "opsbot.yaml", env={})
    assert config.detectors[0].runbook == str((tmp_path / "runbooks" / "cash.md").resolve())


def test_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "loud")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value).startswith("bad setting ALERT_MIN_SEVERITY:") and "\n" not in str(info.value)
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "error")
    monkeypatch.setenv("ALERT_CHAT_IDS", "-100, 5")
    settings = load_settings(_env_file=None)
    assert settings.alert_chat_ids == [-100, 5] and settings.alert_min_severity.value == "error"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("30d", 2592000), ("1200ms", 1.2), (15, 15)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_sizes() -> None:
    assert parse_size("5GB") == 5e9 and parse_size("512MiB") == 512 * 2**20 and parse_size(10) == 10


def test_remediation_config_errors_are_located() -> None:
    text = """
targets: {shop: "sqlite+aiosqlite:///x.db"}
remediations:
  - {name: vacuum_shop, kind: sql, target: shop, statement: VACUUM, auto: true, retries: 3, timeout: 60s}
  - {name: restart, kind: shell, command: "systemctl restart ingest"}
  - {name: cache, kind: http, url: "ftp://x"}
  - {name: nope, kind: teleport}
  - {name: vac2, kind: sql, target: warehouse, statement: VACUUM}
detectors:
  - {name: db_growth, kind: db_size, target: shop, alert_if: "> 5GB", remediation: vacuum_shop}
  - {name: db2, kind: db_size, target: shop, alert_if: "> 5GB", remediation: missing}
"""
    assert errors(text) == [
        "opsbot.yaml: remediations[1] (restart).command: expected an argv list, e.g. [systemctl, restart, "
        "ingest.service]; it never runs in a shell",
        "opsbot.yaml: remediations[2] (cache).url: expected an http:// or https:// URL",
        "opsbot.yaml: remediations[3] (nope).kind: unknown kind 'teleport' (expected one of sql, shell, http, "
        "notify_admin, python)",
        "opsbot.yaml: remediations[4] (vac2).target: unknown target 'warehouse'",
        "opsbot.yaml: detectors[1] (db2).remediation: unknown remediation 'missing' (remediations: vac2, vacuum_shop)",
    ]
    good = parse_config(
        text.split("  - {name: restart")[0]
        + "detectors:\n  - {name: d, kind: db_size, target: shop, alert_if: '> 1GB', remediation: vacuum_shop}\n",
        env={},
    )
    action = good.remediation("vacuum_shop")
    assert action.auto and action.attempts(5) == 3 and action.timeout == 60
