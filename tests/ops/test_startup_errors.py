"""`opsbot run` refuses what no restart can fix — one line naming the setting, no traceback, exit 2 (the
systemd unit's RestartPreventExitStatus=2): an HTTP port in use, a BOT_TOKEN Telegram refuses (401, at
start or when Telegram first answers), /alertmanager and /ping open to other machines without tokens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.app import BAD_TOKEN
from bot.emulator import BotApiEmulator
from helpers import make_sqlite

pytestmark = pytest.mark.no_ops_db  # each process gets a SQLite file of its own; the database is not the point

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """`opsbot run`'s environment: a config with one detector and a SQLite database in `tmp_path`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shop = make_sqlite(tmp_path / "shop.db", "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', 5);")
    (tmp_path / "opsbot.yaml").write_text(
        f'targets: {{shop: "{shop}"}}\n'
        'detectors:\n  - {name: cash, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0"}\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "PING_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN")}
    return {
        **env,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}",
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": "-1001",
        "HTTP_PORT": str(free_port()),
        **extra,
    }


def run_once(tmp_path: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], starts: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return None


def serves(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start `opsbot run`, wait for /healthz, stop it with SIGTERM (exit 0); the health it showed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while (body := health(int(env["HTTP_PORT"]))) is None:
            assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no /healthz"
            time.sleep(0.1)
        return body
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            raise AssertionError(f"no exit within 30s of SIGTERM:\n{stderr}") from None
        assert proc.returncode == 0, stderr


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["HTTP_PORT"])))
        taken.listen()
        result = run_once(tmp_path, env)
    line = assert_one_line_exit_2(result, "bad setting HTTP_PORT: ")
    assert f"port {env['HTTP_PORT']} on 127.0.0.1 is in use" in line


@pytest.mark.parametrize("mistake", ["taken", "malformed", "http_port"])
def test_a_bad_status_listen_is_one_line_and_exit_2(tmp_path: Path, mistake: str) -> None:
    port = free_port()
    env = environment(tmp_path)
    env["STATUS_LISTEN"] = {"taken": f"127.0.0.1:{port}", "malformed": "8081"}.get(
        mistake, f"127.0.0.1:{env['HTTP_PORT']}"
    )
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = run_once(tmp_path, env)
    line = assert_one_line_exit_2(result, "bad setting STATUS_LISTEN: ")
    says = {
        "taken": f"port {port} on 127.0.0.1 is in use",
        "malformed": "expected host:port, e.g. 0.0.0.0:8081",
        "http_port": f"port {env['HTTP_PORT']} is HTTP_PORT's, opsbot's own HTTP server",
    }
    assert says[mistake] in line


async def test_a_token_telegram_refuses_is_one_line_and_exit_2(tmp_path: Path) -> None:
    emulator = BotApiEmulator()
    await emulator.start()
    try:
        emulator.fail("getMe", "unauthorized", times=100)
        env = environment(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator.url)
        result = await asyncio.to_thread(run_once, tmp_path, env)
    finally:
        await emulator.stop()
    assert_one_line_exit_2(result, BAD_TOKEN)
    assert TOKEN not in result.stderr
    assert [c.method for c in emulator.calls] == ["getMe"]  # asked once: a 401 is not retried like a network error
    assert not (tmp_path / "ops.db").exists()  # refused before anything was written


async def test_a_token_refused_once_telegram_answers_stops_the_process_with_exit_2(tmp_path: Path) -> None:
    """Telegram was unreachable at start (the process ran on); its first answer is a 401: the token is
    wrong, and no retry will fix that."""
    port = free_port()
    env = environment(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    emulator = BotApiEmulator(port=port)
    try:
        assert proc.stderr is not None
        while b"Telegram is unreachable" not in (line := await asyncio.wait_for(proc.stderr.readline(), 30)):
            assert line, "the process ended early"
        # A wrong token is refused by every method, the forum check's getChat/getChatMember included.
        for method in (
            "getMe",
            "deleteWebhook",
            "setMyCommands",
            "getUpdates",
            "sendMessage",
            "getChat",
            "getChatMember",
        ):
            emulator.fail(method, "unauthorized", times=1000)
        await emulator.start()
        stderr = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
        assert await asyncio.wait_for(proc.wait(), 30) == 2
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await emulator.stop()
    assert stderr.splitlines()[-1] == BAD_TOKEN
    assert "Traceback" not in stderr and TOKEN not in stderr


@pytest.mark.parametrize(
    ("tokens", "missing"),
    [
        ({}, "ALERTMANAGER_WEBHOOK_TOKEN and PING_TOKEN"),
        ({"PING_TOKEN": "p1ng-t0ken"}, "ALERTMANAGER_WEBHOOK_TOKEN"),
        ({"ALERTMANAGER_WEBHOOK_TOKEN": "am-t0ken"}, "PING_TOKEN"),
    ],
)
def test_ingest_open_to_other_machines_without_tokens_is_refused(
    tmp_path: Path, tokens: dict[str, str], missing: str
) -> None:
    result = run_once(tmp_path, environment(tmp_path, HTTP_HOST="0.0.0.0", **tokens))
    line = assert_one_line_exit_2(result, "bad setting HTTP_HOST: 0.0.0.0 is reachable from other machines")
    assert f"set {missing} (or ALLOW_UNAUTHENTICATED_INGEST=true" in line
    assert "p1ng-t0ken" not in line and "am-t0ken" not in line


def test_ingest_beyond_loopback_runs_with_both_tokens_or_when_explicitly_allowed(tmp_path: Path) -> None:
    both = {"PING_TOKEN": "p1ng-t0ken", "ALERTMANAGER_WEBHOOK_TOKEN": "am-t0ken"}
    assert serves(tmp_path / "a", environment(tmp_path / "a", HTTP_HOST="0.0.0.0", **both))["status"] == "ok"
    allowed = environment(tmp_path / "b", HTTP_HOST="0.0.0.0", ALLOW_UNAUTHENTICATED_INGEST="true")
    assert serves(tmp_path / "b", allowed)["status"] == "ok"
    assert serves(tmp_path / "c", environment(tmp_path / "c"))["status"] == "ok"  # loopback needs no token
