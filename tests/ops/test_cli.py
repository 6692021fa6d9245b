"""The `opsbot` command line: sweep --once (table, JSON, exit codes), check-config, migrate, headless run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.cli import main
from helpers import database_url, make_sqlite, query, sql


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shop = make_sqlite(
        tmp_path / "shop.db", "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', 5), ('ozon', 7);"
    )
    (tmp_path / "opsbot.yaml").write_text(
        f"""
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash_balance, kind: sql, target: shop, query: "SELECT k, v FROM b ORDER BY k", alert_if: "< 0", severity: critical}}
  - {{name: shop_size, kind: db_size, target: shop, alert_if: "> 5GB"}}
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url(tmp_path / "ops.db"))
    monkeypatch.setenv("OPSBOT_CONFIG", str(tmp_path / "opsbot.yaml"))
    monkeypatch.setenv("ALERT_CHAT_IDS", "-1001")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return tmp_path


def test_sweep_once_exits_0_when_all_pass_and_1_when_any_fails(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--once"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:4] == ["DETECTOR", "KEY", "OK", "SEVERITY"]
    assert "cash_balance" in table and "shop_size" in table
    sql(workspace / "shop.db", "UPDATE b SET v = -3 WHERE k = 'wb'")
    assert main(["sweep", "--once", "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    wb = next(r for r in results if r["key"] == "wb")
    assert wb == {
        "detector": "cash_balance",
        "key": "wb",
        "ok": False,
        "status": "fail",
        "severity": "critical",
        "value": -3.0,
        "message": "cash_balance[wb] = -3 (alert if < 0)",
    }
    assert {r["detector"] for r in results} == {"cash_balance", "shop_size"}


def test_sweep_results_reach_the_engine_and_the_outbox(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql(workspace / "shop.db", "UPDATE b SET v = -3 WHERE k = 'wb'")
    main(["sweep", "--once"])
    main(["sweep", "--once"])  # a second run (a new process in cron) does not notify again
    url = database_url(workspace / "ops.db")
    assert query(url, "SELECT chat_id, kind, status FROM ops_outbox") == [(-1001, "alert", "pending")]
    assert query(url, "SELECT COUNT(*) FROM ops_check_results") == [(6,)]


def test_config_error_exits_2_with_every_error(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "bad.yaml").write_text("detectors:\n  - {name: x, kind: sql}\n  - {name: y, kind: nope}\n")
    assert main(["check-config", str(workspace / "bad.yaml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert f"{workspace / 'bad.yaml'}: detectors[0] (x).target: required field is missing" in err
    assert any("detectors[1] (y).kind: unknown kind 'nope'" in line for line in err)
    os.environ["OPSBOT_CONFIG"] = str(workspace / "bad.yaml")
    assert main(["sweep", "--once"]) == 2
    assert main(["check-config", str(workspace / "opsbot.yaml")]) == 0
    assert "ok — 2 detector(s)" in capsys.readouterr().out


def test_bad_setting_exits_2_naming_it(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWEEP_INTERVAL_SEC", "often")
    assert main(["sweep", "--once"]) == 2
    assert capsys.readouterr().err.startswith("bad setting SWEEP_INTERVAL_SEC:")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://ops.example.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://ops.example.com", False),
        ("ops.example.com", False),
    ],
)
@pytest.mark.no_ops_db
def test_public_url_is_https_or_this_machine(url: str, accepted: bool) -> None:
    """A Mini App opens only over https; a loopback address is for trying /console's login links here."""
    from pydantic import ValidationError

    from ops.settings import Settings

    try:
        Settings(_env_file=None, public_url=url)
    except ValidationError as exc:
        assert not accepted and "http://127.0.0.1:PORT" in str(exc)
    else:
        assert accepted


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"WEBHOOK_URL": "https://ops.example.com/tg"}, "bad setting WEBHOOK_SECRET: webhook mode needs both"),
        ({"WEBHOOK_SECRET": "abc"}, "bad setting WEBHOOK_URL: webhook mode needs both"),
        (
            {"WEBHOOK_URL": "https://x.example/tg", "WEBHOOK_SECRET": "no spaces"},
            "bad setting WEBHOOK_SECRET: Telegram",
        ),
        (
            {"WEBHOOK_URL": "ops.example.com", "WEBHOOK_SECRET": "abc"},
            "bad setting WEBHOOK_URL: expected an http(s) URL",
        ),
    ],
)
@pytest.mark.no_ops_db
def test_half_a_webhook_setting_exits_2_naming_it(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict, says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and "no spaces" not in err  # a secret is never echoed


def test_migrate(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "database at revision 0016_board_pinned" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_headless_run_says_so_and_serves_metrics_and_healthz(workspace: Path, db_backend: str) -> None:
    port = _free_port()
    env = {**os.environ, "HTTP_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workspace,
    )
    try:
        first = proc.stdout.readline().decode()  # type: ignore[union-attr]
        assert first.strip() == (
            "BOT_TOKEN is not set: running headless — detectors and alerts run, notifications wait in the outbox."
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if 'detector_checks_total{detector="cash_balance",result="ok"}' in metrics:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no metrics"
            time.sleep(0.1)
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read())
        assert health.pop("replica") == health.pop("leader_replica") == f"{socket.gethostname()}:{proc.pid}"
        duties = health.pop("duties")
        assert {name: (d["state"], d["restarts"]) for name, d in duties.items()} == {
            "scheduler": ("running", 0),
            "housekeeping": ("running", 0),
        }
        assert health == {
            "status": "ok",
            "outbox_depth": 0,
            "outbox_held": 0,
            "detectors": 2,
            "alert_chats": 1,
            "leader": True,
            "replicas": 1,
            "telegram": "headless",
            "scheduler": "running",
            "database": "ok",
            "config": "sha256:" + hashlib.sha256((workspace / "opsbot.yaml").read_bytes()).hexdigest(),
        }
        assert "opsbot_leader 1.0" in metrics
        for name in (
            "alerts_total",
            "alerts_deduplicated_total",
            "detector_check_duration_seconds",
            "opsbot_outbox_depth",
            "opsbot_outbox_held",
            "opsbot_notifications_quiet_total",
        ):
            assert f"# TYPE {name}" in metrics
        if db_backend == "sqlite":  # a second replica on the same SQLite file refuses to start, and says why
            second = subprocess.run(
                [sys.executable, "-m", "bot.cli", "run"],
                env={**env, "HTTP_PORT": "0"},
                capture_output=True,
                text=True,
                timeout=30,
                cwd=workspace,
            )
            assert second.returncode == 2
            assert f"another opsbot (pid {proc.pid}) is running on" in second.stderr
            assert "SQLite serves one replica" in second.stderr and "Traceback" not in second.stderr
        else:  # on PostgreSQL it joins and stands by
            standby = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"],
                env={**env, "HTTP_PORT": "0"},
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
                cwd=workspace,
            )
            try:
                line = standby.stderr.readline()  # type: ignore[union-attr]
                assert "opsbot running: replica" in line and line.rstrip().endswith("standing by")
            finally:
                standby.send_signal(signal.SIGTERM)
                assert standby.wait(timeout=15) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
