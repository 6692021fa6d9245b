"""`opsbot check-config` as a user runs it: exit codes, one line per problem, `.env` read like the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from ops.settings import Settings

pytestmark = pytest.mark.no_ops_db

CONFIG = """
targets: {shop: "${SHOP_URL}"}
detectors:
  - {name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}
"""


def opsbot(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SHOP_URL", "OPSBOT_CONFIG", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_variables_come_from_dot_env_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(CONFIG)
    (tmp_path / ".env").write_text("SHOP_URL=sqlite+aiosqlite:///shop.db\n")
    done = opsbot(tmp_path, "check-config")
    assert (done.returncode, done.stdout, done.stderr) == (0, "./opsbot.yaml: ok — 1 detector(s), 1 target(s)\n", "")
    done = opsbot(tmp_path, "check-config", env={"SHOP_URL": "https://shop.example.com"})
    assert done.returncode == 2
    assert done.stderr.startswith("opsbot.yaml: targets.shop: not a database URL: 'https' is not a database")


def test_config_env_holds_dot_env_values_under_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "my.env"
    env_file.write_text("SHOP_URL='sqlite+aiosqlite:///s.db'\nexport TEAM=ops\nEMPTY\nSLO_API_LATENCY_P95_MS=900.0\n")

    class MySettings(Settings):
        model_config = SettingsConfigDict(env_file=env_file, extra="ignore")

    monkeypatch.delenv("SLO_API_LATENCY_P95_MS", raising=False)
    env = MySettings().config_env()
    assert env["SHOP_URL"] == "sqlite+aiosqlite:///s.db" and env["TEAM"] == "ops" and "EMPTY" not in env
    assert env["SLO_API_LATENCY_P95_MS"] == "900"  # as the settings read it

    class NoFile(Settings):
        model_config = SettingsConfigDict(env_file=None, extra="ignore")

    assert "SHOP_URL" not in NoFile().config_env()


def test_an_empty_config_is_a_warning_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text("")
    done = opsbot(tmp_path, "check-config")
    assert done.returncode == 0
    assert done.stdout == "./opsbot.yaml: ok — 0 detector(s), 0 target(s)\n"
    assert done.stderr == "warning: opsbot.yaml: the file is empty — no detectors, opsbot checks nothing\n"


def test_setting_like_typos_in_dot_env_are_warned_with_the_closest_name(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(CONFIG.replace("${SHOP_URL}", "${SHOP_DATABASE_URL}"))
    (tmp_path / ".env").write_text(
        "BOT_TOKN=123:abc\nALERT_CHAT_ID=-1001\nSHOP_DATABASE_URL=sqlite+aiosqlite:///shop.db\n"
        "ALERT_MIN_SEVERITY=error\nsweep_interval_sec=60\nMY_OWN_THING=1\n"
    )
    done = opsbot(tmp_path, "check-config")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: .env: BOT_TOKN is not an opsbot setting — did you mean BOT_TOKEN?",
        "warning: .env: ALERT_CHAT_ID is not an opsbot setting — did you mean ALERT_CHAT_IDS?",
    ]


def test_setting_like_typos_in_dot_env_are_warned_at_run_start_up(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(CONFIG)
    (tmp_path / ".env").write_text("SHOP_URL=sqlite+aiosqlite:///shop.db\nBOT_TOKN=123:abc\nHTTP_PORT=0\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SHOP_URL", "OPSBOT_CONFIG", "BOT_TOKEN", "HTTP_PORT")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        while not any("opsbot running" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            lines.append(proc.stderr.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    typos = [line for line in lines if "BOT_TOKN" in line]
    assert len(typos) == 1 and "WARNING" in typos[0]
    assert typos[0].rstrip().endswith(".env: BOT_TOKN is not an opsbot setting — did you mean BOT_TOKEN?")


def test_a_secret_setting_in_a_description_is_refused(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(CONFIG.replace('"> 5GB"}', '"> 5GB", description: "bot ${BOT_TOKEN}"}'))
    done = opsbot(
        tmp_path,
        "check-config",
        env={"SHOP_URL": "sqlite:///s.db", "BOT_TOKEN": "123:secret-of-the-shape-botfather-gives-x"},
    )
    assert done.returncode == 2 and "secret" not in done.stdout
    assert done.stderr == (
        "opsbot.yaml: detectors[0] (shop_size).description: ${BOT_TOKEN} is a secret setting; "
        "it may appear only in targets, headers and a remediation's env\n"
    )


def test_an_alias_bomb_exits_2_in_one_line(tmp_path: Path) -> None:
    bomb = '&a ["${X}","${X}","${X}","${X}","${X}","${X}","${X}","${X}","${X}"]'
    text = f"a: {bomb}\n"
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    assert len(text) < 300
    (tmp_path / "bomb.yaml").write_text(text)
    started = time.monotonic()
    done = opsbot(tmp_path, "check-config", "bomb.yaml", env={"X": "x" * 1000})
    assert time.monotonic() - started < 15  # the Python start-up included, on a loaded machine
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("bomb.yaml: expands to more than")
    assert "Traceback" not in done.stderr


def test_a_reference_to_an_invalid_item_blames_the_item_not_the_reference(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(
        """
targets: {shop: "sqlite:///shop.db", site: "https://shop.example.com"}
remediations:
  - {name: top_up, kind: shell, command: [/usr/local/bin/top-up], retries: -1}
  - {name: "${FIX_NAME}", kind: shell, command: [/usr/local/bin/fix]}
detectors:
  - {name: balance, kind: db_size, target: shop, alert_if: "> 1GB", remediation: top_up}
  - {name: orders, kind: db_size, target: site, alert_if: "> 1GB", remediation: fix, depends_on: [broken]}
  - {name: broken, kind: db_size, target: shop, alert_if: "huge"}
slos:
  - {name: up, objective: 99, sli: {detector: broken}}
"""
    )
    done = opsbot(tmp_path, "check-config")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "opsbot.yaml: remediations[1] (${FIX_NAME}).name: environment variable FIX_NAME is not set",
        "opsbot.yaml: targets.site: not a database URL: 'https' is not a database "
        "(e.g. postgresql+asyncpg://user:pass@host/db or sqlite+aiosqlite:///path/to.db)",
        "opsbot.yaml: remediations[0] (top_up).retries: Input should be greater than or equal to 0",
        'opsbot.yaml: detectors[2] (broken).alert_if: expected an operator and a size, e.g. "> 5GB"',
        "opsbot.yaml: detectors[0] (balance).remediation: remediation 'top_up' is invalid (see above)",
        "opsbot.yaml: detectors[1] (orders).target: target 'site' is invalid (see above)",
        "opsbot.yaml: detectors[1] (orders).depends_on: detector 'broken' is invalid (see above)",
        "opsbot.yaml: detectors[1] (orders).remediation: unknown remediation 'fix' (remediations: 1 invalid above)",
        "opsbot.yaml: slos[0] (up).sli.detector: detector 'broken' is invalid (see above)",
    ]


def test_retries_0_is_valid(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(
        CONFIG.replace('"> 5GB"}', '"> 5GB", remediation: top_up}').replace(
            "detectors:", "remediations:\n  - {name: top_up, kind: shell, command: [/bin/true], retries: 0}\ndetectors:"
        )
    )
    done = opsbot(tmp_path, "check-config", env={"SHOP_URL": "sqlite:///shop.db"})
    assert (done.returncode, done.stdout, done.stderr) == (0, "./opsbot.yaml: ok — 1 detector(s), 1 target(s)\n", "")


def test_an_escalation_step_naming_no_oncall_schedule_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text(
        """
targets: {shop: "sqlite+aiosqlite:///shop.db"}
oncall:
  - {name: primary, members: [201]}
escalation:
  critical:
    - {after: 0m, notify: chats}
    - {after: 5m, notify: "oncall:primray"}
  error: {after: 1h}
detectors:
  - {name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}
"""
    )
    done = opsbot(tmp_path, "check-config")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "opsbot.yaml: escalation: critical step 2: no oncall schedule named 'primray' (schedules: primary)\n"
    )
