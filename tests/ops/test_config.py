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
        "opsbot.yaml: detectors[2] (c).kind: unknown kind 'carrier_pigeon' (expected one of sql, freshness, db_size, http, heartbeat, metrics, prometheus, python, anomaly, forecast)"
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
    assert action.auto and action.attempts(5) == 4 and action.timeout == 60  # the first, then 3 retries


# --- check-config catches what it can (issue 21) ---


def test_an_unknown_top_level_key_is_reported_alone() -> None:
    assert errors("colour: red\n" + GOOD) == ["opsbot.yaml: colour: unknown field"]


def test_an_empty_or_detector_less_file_is_a_warning() -> None:
    for text, says in (
        ("", "opsbot.yaml: the file is empty — no detectors, opsbot checks nothing"),
        ("# nothing yet\n", "opsbot.yaml: the file is empty — no detectors, opsbot checks nothing"),
        ("targets: {shop: 'sqlite+aiosqlite:///x.db'}\n", "opsbot.yaml: no detectors — opsbot checks nothing"),
    ):
        warnings: list[str] = []
        config = parse_config(text, env={}, warnings=warnings)
        assert config.detectors == [] and warnings == [says]
    warnings = []
    parse_config(GOOD, env={}, warnings=warnings)
    assert warnings == []


def test_a_target_that_is_not_a_database_url_is_an_error() -> None:
    text = """
targets:
  site: https://shop.example.com
  words: not a url at all
  mysql: "mysql+aiomysql://u:hunter2@db/shop"
  sync: "postgresql+psycopg2://u:hunter2@db/shop"
  ok: "sqlite+aiosqlite:///x.db"
detectors:
  - {name: a, kind: db_size, target: site, alert_if: "> 1GB"}
  - {name: b, kind: db_size, target: ok, alert_if: "> 1GB"}
"""
    found = errors(text)
    assert found[:4] == [
        "opsbot.yaml: targets.site: not a database URL: 'https' is not a database "
        "(e.g. postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path/to.db)",
        "opsbot.yaml: targets.words: not a database URL "
        "(e.g. postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path/to.db)",
        "opsbot.yaml: targets.mysql: the driver aiomysql is not installed",
        "opsbot.yaml: targets.sync: psycopg2 is not an asyncio driver (e.g. postgresql+asyncpg://…)",
    ]
    assert found[4:] == ["opsbot.yaml: detectors[0] (a).target: target 'site' is invalid (see above)"]
    assert not any("hunter2" in line for line in found)  # a password is never echoed


def test_a_target_url_as_users_type_it_gets_its_async_driver() -> None:
    config = parse_config(
        "targets:\n  pg: postgresql://u@db/shop\n  heroku: postgres://u@db/shop\n  file: sqlite:///x.db\n", env={}
    )
    assert config.targets == {
        "pg": "postgresql+asyncpg://u@db/shop",
        "heroku": "postgresql+asyncpg://u@db/shop",
        "file": "sqlite+aiosqlite:///x.db",
    }


def test_a_missing_kind_says_so() -> None:
    assert errors("detectors:\n  - {name: a, target: shop}\nremediations:\n  - {name: r}\n") == [
        "opsbot.yaml: remediations[0] (r).kind: required field is missing "
        "(one of sql, shell, http, notify_admin, python)",
        "opsbot.yaml: detectors[0] (a).kind: required field is missing "
        "(one of sql, freshness, db_size, http, heartbeat, metrics, prometheus, python, anomaly, forecast)",
    ]


def test_a_missing_variable_is_reported_once() -> None:
    text = """
targets: {shop: "${SHOP_URL}", copy: "${SHOP_URL}"}
detectors:
  - {name: a, kind: sql, target: shop, query: x, alert_if: "< ${LIMIT}", labels: {team: "${TEAM}"}}
  - {name: b, kind: sql, target: copy, query: x, alert_if: "< ${LIMIT}", labels: {team: "${TEAM}"}}
  - {name: c, kind: http, url: "${SITE}/health", labels: {team: "${TEAM}"}}
"""
    assert errors(text) == [
        "opsbot.yaml: targets.shop: environment variable SHOP_URL is not set (used in 1 more place)",
        "opsbot.yaml: detectors[0] (a).alert_if: environment variable LIMIT is not set (used in 1 more place)",
        "opsbot.yaml: detectors[0] (a).labels.team: environment variable TEAM is not set (used in 2 more places)",
        "opsbot.yaml: detectors[2] (c).url: environment variable SITE is not set",
    ]


def test_a_bad_tz_names_its_field_and_hides_no_other_error() -> None:
    text = """
slo_report: "mon 09:00"
slo_report_tz: Mars/Olympus
maintenance:
  - {detectors: [a], cron: "0 3 * * *", tz: Europe, duration: forever}
detectors:
  - {name: a, kind: heartbeat, period: 1d, tz: Mars/Base, grace: soon}
  - {name: b, kind: heartbeat, schedule: "0 99 * * *", tz: Nowhere/Else}
"""
    found = errors(text)
    assert "opsbot.yaml: slo_report_tz: unknown timezone 'Mars/Olympus' (e.g. UTC, Europe/Berlin)" in found
    assert "opsbot.yaml: maintenance[0].tz: unknown timezone 'Europe' (e.g. UTC, Europe/Berlin)" in found
    assert any(line.startswith("opsbot.yaml: maintenance[0].duration: expected a duration") for line in found)
    assert "opsbot.yaml: detectors[0] (a).tz: unknown timezone 'Mars/Base' (e.g. UTC, Europe/Berlin)" in found
    assert any(line.startswith("opsbot.yaml: detectors[0] (a).grace: expected a duration") for line in found)
    assert "opsbot.yaml: detectors[1] (b).tz: unknown timezone 'Nowhere/Else' (e.g. UTC, Europe/Berlin)" in found
    assert any(
        line.startswith("opsbot.yaml: detectors[1] (b).schedule: bad cron schedule '0 99 * * *'") for line in found
    )
    assert len(found) == 7


def test_a_reference_to_an_invalid_item_says_it_is_invalid_not_unknown() -> None:
    text = """
targets: {shop: "sqlite+aiosqlite:///x.db", site: "https://example.com"}
remediations:
  - {name: vacuum, kind: sql, target: shop, statement: VACUUM, retries: 99}
  - {name: purge, kind: sql, target: site, statement: DELETE FROM t}
maintenance:
  - {detectors: [broken, ghost], cron: "0 3 * * *", duration: 1h}
slos:
  - {name: up, objective: 99, sli: {detector: broken}}
  - {name: fresh, objective: 99, sli: {target: site, good_query: x, total_query: y}}
detectors:
  - {name: broken, kind: sql, target: shop, query: x, alert_if: "<<"}
  - {name: a, kind: db_size, target: shop, alert_if: "> 1GB", remediation: vacuum, depends_on: [broken, ghost]}
"""
    found = errors(text)
    assert found[0] == (
        "opsbot.yaml: targets.site: not a database URL: 'https' is not a database "
        "(e.g. postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path/to.db)"
    )
    assert found[1].startswith("opsbot.yaml: remediations[0] (vacuum).retries:")
    assert found[2:] == [
        "opsbot.yaml: remediations[1] (purge).target: target 'site' is invalid (see above)",
        "opsbot.yaml: detectors[0] (broken).alert_if: expected an operator and a number, got '<<'",
        "opsbot.yaml: detectors[1] (a).depends_on: detector 'broken' is invalid (see above)",
        "opsbot.yaml: detectors[1] (a).depends_on: unknown detector 'ghost'",
        "opsbot.yaml: detectors[1] (a).remediation: remediation 'vacuum' is invalid (see above)",
        "opsbot.yaml: slos[0] (up).sli.detector: detector 'broken' is invalid (see above)",
        "opsbot.yaml: slos[1] (fresh).sli.target: target 'site' is invalid (see above)",
        "opsbot.yaml: maintenance[0].detectors: detector 'broken' is invalid (see above)",
        "opsbot.yaml: maintenance[0].detectors: unknown detector 'ghost'",
    ]


def test_a_bad_section_makes_its_references_invalid_not_unknown() -> None:
    text = """
targets: [shop]
remediations: {vacuum: {kind: sql}}
detectors:
  - {name: a, kind: db_size, target: shop, alert_if: "> 1GB", remediation: vacuum}
"""
    assert errors(text) == [
        "opsbot.yaml: targets: Input should be a valid dictionary",
        "opsbot.yaml: remediations: expected a list",
        "opsbot.yaml: detectors[0] (a).target: target 'shop' is invalid (see above)",
        "opsbot.yaml: detectors[0] (a).remediation: remediation 'vacuum' is invalid (see above)",
    ]


# --- secret settings stay where they are needed (issue 22, item 10) ---

SECRETS = {
    "BOT_TOKEN": "123456:AAAAsecretbottoken",
    "DATABASE_URL": "postgresql+asyncpg://ops:pw@db/ops",
    "PING_TOKEN": "pingsecret",
    "WEBHOOK_SECRET": "hooksecret",
    "ALERTMANAGER_WEBHOOK_TOKEN": "amsecret",
    "API_TOKEN": "apisecret",
    "ALERTMANAGER_URL": "http://admin:ampass@am:9093",
}


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_a_secret_setting_outside_targets_and_headers_is_refused(secret: str) -> None:
    text = f"""
detectors:
  - name: a
    kind: http
    url: https://example.com
    description: "token ${{{secret}}}"
    labels: {{team: "${{{secret}:-x}}"}}
"""
    found = errors(text, env=SECRETS)
    assert found == [
        f"opsbot.yaml: detectors[0] (a).description: ${{{secret}}} is a secret setting; "
        "it may appear only in targets, headers and a remediation's env",
        f"opsbot.yaml: detectors[0] (a).labels.team: ${{{secret}}} is a secret setting; "
        "it may appear only in targets, headers and a remediation's env",
    ]
    assert not any(SECRETS[secret] in line for line in found)


def test_secret_settings_where_they_are_needed_are_fine() -> None:
    text = """
targets: {ops: "${DATABASE_URL}"}
remediations:
  - {name: ack, kind: http, url: "https://ops.example.com/api", headers: {Authorization: "Bearer ${API_TOKEN}"}}
detectors:
  - {name: a, kind: db_size, target: ops, alert_if: "> 1GB", remediation: ack}
  - {name: b, kind: http, url: "https://x.example.com", headers: {X-Token: "${PING_TOKEN}"}, description: "${ALERTMANAGER_URL}"}
"""
    config = parse_config(text, env={**SECRETS, "ALERTMANAGER_URL": "http://am:9093"})
    assert config.targets["ops"] == SECRETS["DATABASE_URL"]
    assert config.detectors[1].description == "http://am:9093"  # no password in it: not a secret


# --- a YAML alias bomb is refused at once (issue 22, item 17) ---

BOMB = """a: &a ["${X}","${X}","${X}","${X}","${X}","${X}","${X}","${X}","${X}"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def test_an_alias_bomb_is_refused_in_one_line_quickly() -> None:
    import time

    assert len(BOMB) < 300
    for env in ({"X": "x" * 1000}, {"X": "x"}, {}):
        started = time.perf_counter()
        found = errors(BOMB, env=env)
        assert time.perf_counter() - started < 0.5
        assert len(found) == 1 and found[0].startswith("opsbot.yaml: expands to more than"), found


def test_a_variable_holding_an_alias_bomb_is_refused_too() -> None:
    import time

    levels = ["&a [" + ",".join(["x" * 100] * 9) + "]"]
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        levels.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    found = errors("detectors: ${X}\n", env={"X": "[" + ", ".join(levels) + "]"})
    assert time.perf_counter() - started < 0.5
    assert len(found) == 1 and found[0].startswith("opsbot.yaml: expands to more than"), found


def test_deep_nesting_is_one_line() -> None:
    found = errors("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert found == ["opsbot.yaml: nested too deeply (more than 100 levels)"]
