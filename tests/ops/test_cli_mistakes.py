"""Everyday mistakes end in one line naming the setting or the cause, and exit 2 — never a traceback.

Each case runs `python -m bot.cli …` as a user would, in a folder of its own (no `.env` of ours).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import create_pg_database, drop_pg_database

from helpers import in_thread

pytestmark = pytest.mark.no_ops_db  # each test picks its own DATABASE_URL on purpose

SETTINGS = ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS", "OPSBOT_CONFIG", "TELEGRAM_API_URL", "DATABASE_WAIT")
CONFIG = """
detectors:
  - {name: nightly_backup, kind: heartbeat, period: 1d}
"""
GOOD_TOKEN = "123456:AAHk3v9-xY_z0123456789abcdefghijklm"


def opsbot(cwd: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The whole output is one line, there is no traceback, and the exit status is 2."""
    output = (proc.stdout + proc.stderr).strip()
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert proc.returncode == 2, output
    return output


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "opsbot.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


@pytest.fixture
def scratch_pg(postgres_url: str) -> Iterator[str]:
    url = in_thread(create_pg_database(postgres_url))
    yield url
    in_thread(drop_pg_database(postgres_url, url))


@pytest.mark.parametrize("command", [["run"], ["migrate"], ["sweep", "--once"]])
def test_postgres_down_is_one_line_naming_the_server(folder: Path, command: list[str]) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/opsbot"
    line = one_line(opsbot(folder, *command, DATABASE_URL=url, DATABASE_WAIT="0"))
    assert f"PostgreSQL at 127.0.0.1:{port}" in line and "connection refused" in line
    assert "DATABASE_URL" in line and "hunter2" not in line


def test_postgres_down_is_waited_for_a_while_with_a_message_first(folder: Path) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/opsbot"
    started = time.monotonic()
    proc = opsbot(folder, "migrate", DATABASE_URL=url, DATABASE_WAIT="2s")
    took = time.monotonic() - started
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(output) == 2, output
    assert output[0].startswith(f"waiting up to 2s for PostgreSQL at 127.0.0.1:{port}")
    assert f"PostgreSQL at 127.0.0.1:{port}" in output[1] and "after 2s" in output[1]
    assert took >= 2


def test_postgres_refusing_fails_at_once(folder: Path, postgres_url: str) -> None:
    missing = f"{postgres_url.rsplit('/', 1)[0]}/no_such_opsbot_db"
    started = time.monotonic()
    line = one_line(opsbot(folder, "migrate", DATABASE_URL=missing, DATABASE_WAIT="30s"))
    assert 'database "no_such_opsbot_db" does not exist' in line and "DATABASE_URL" in line
    assert time.monotonic() - started < 20  # refused: waiting would not change it


@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_postgres_url_without_the_driver_is_accepted(folder: Path, scratch_pg: str, scheme: str) -> None:
    url = scheme + scratch_pg.split("://", 1)[1]
    proc = opsbot(folder, "migrate", DATABASE_URL=url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("database at revision")


def test_sqlite_url_without_the_driver_is_accepted(folder: Path) -> None:
    proc = opsbot(folder, "migrate", DATABASE_URL=f"sqlite:///{folder / 'state' / 'ops.db'}")
    assert proc.returncode == 0, proc.stderr
    assert (folder / "state" / "ops.db").is_file()


def test_unknown_database_is_one_line(folder: Path) -> None:
    line = one_line(opsbot(folder, "migrate", DATABASE_URL="mysql://root:pw@db/opsbot"))
    assert line.startswith("bad setting DATABASE_URL:") and "pw" not in line


def test_sqlite_file_that_cannot_be_opened_is_one_line(folder: Path) -> None:
    (folder / "blocker").write_text("a file where a folder should be")
    line = one_line(opsbot(folder, "migrate", DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'blocker' / 'ops.db'}"))
    assert "SQLite" in line and "DATABASE_URL" in line


@pytest.mark.parametrize(
    "token",
    [
        "123456",  # the bot's id alone
        "bot123456:AAHk3v9-xY_z0123456789abcdefghijklm",  # copied from a URL with its "bot"
        "123456:AAHk3v9",  # cut short
        "123456:AAHk3v9 xY_z0123456789abcdefghijklm",  # a space in the middle
        "https://api.telegram.org/bot123456:AAHk3v9-xY_z0123456789abcdefghijklm/getMe",
    ],
)
def test_malformed_bot_token_is_one_line_that_never_echoes_it(folder: Path, token: str) -> None:
    line = one_line(opsbot(folder, "run", BOT_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{folder}/ops.db"))
    assert line.startswith("bad setting BOT_TOKEN:")
    assert "AAHk3v9" not in line and "123456" not in line


def test_well_formed_token_passes_the_check(folder: Path) -> None:
    proc = opsbot(folder, "check-config", BOT_TOKEN=GOOD_TOKEN)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("url", ["not a url", "mysql://root@127.0.0.1/test"])
def test_demo_with_a_bad_postgres_url_is_one_line(tmp_path: Path, url: str) -> None:
    proc = opsbot(tmp_path, "demo", "--example", "devdiag", "--postgres", url, "--dir", str(tmp_path / "demo"))
    line = one_line(proc)
    assert line.startswith("opsbot demo: --postgres")


def test_demo_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    line = one_line(opsbot(tmp_path, "demo", "--dir", str(tmp_path / "notes.txt")))
    assert line == f"opsbot demo: --dir {tmp_path / 'notes.txt'} is a file, not a folder"
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_run_and_sweep_take_config(folder: Path) -> None:
    elsewhere = folder / "conf" / "team.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(CONFIG.replace("nightly_backup", "weekly_report"), encoding="utf-8")
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{folder}/ops.db", "OPSBOT_CONFIG": str(folder / "missing.yaml")}
    swept = opsbot(folder, "sweep", "--once", "--config", str(elsewhere), **env)
    assert swept.returncode == 0, swept.stderr
    assert "weekly_report" in swept.stdout and "nightly_backup" not in swept.stdout
    broken = folder / "broken.yaml"
    broken.write_text("detectors:\n  - {name: x, kind: nope}\n", encoding="utf-8")
    ran = opsbot(folder, "run", "--config", str(broken), **env)
    assert ran.returncode == 2 and f"{broken}: detectors[0] (x).kind: unknown kind 'nope'" in ran.stderr
