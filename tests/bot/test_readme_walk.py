"""The README walked as a stranger would, on a clean clone: "Try it" (`opsbot demo`) and "Running it for
real" — `opsbot init` → `check-config` → `opsbot run` against `opsbot emulator` → an alert arrives →
`/start` in a new group → its id added to `ALERT_CHAT_IDS` in `.env` → `kill -HUP` → the alert still
firing arrives there too, once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.no_ops_db  # opsbot keeps its own SQLite file in the walk's folder

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
SETTINGS = ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS", "ADMIN_CHAT_IDS", "ADMIN_USER_IDS", "OPSBOT_CONFIG")
TEAM, NEW_GROUP = -1001, -1002


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this repository (its committed state), or a copy of the tracked files outside git."""
    target = tmp_path_factory.mktemp("walk") / "opsbot"
    if (REPO / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, timeout=120)
    else:
        subprocess.run(["cp", "-r", str(REPO), str(target)], check=True, timeout=120)
    return target


def env_for(clone: Path, **extra: str) -> dict[str, str]:
    """The clone's code, not the installed package's; none of the developer's settings."""
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS and not k.startswith("TELEGRAM")}
    return {**base, "PYTHONPATH": str(clone), **extra}


def opsbot(clone: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env_for(clone),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def eventually(what: str, found: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = found()
        except OSError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g}s"
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_env_line(path: Path, name: str, value: str) -> None:
    """Edit `.env` as a person would: the one line of that setting."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith(f"{name}=") for line in lines), f"{name} is not in init's .env"
    path.write_text(
        "\n".join(f"{name}={value}" if line.startswith(f"{name}=") else line for line in lines) + "\n",
        encoding="utf-8",
    )


@pytest.fixture
def emulator(clone: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`opsbot emulator --port N`, as the README says; yields its URL and the token it suggests."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "emulator", "--port", str(port)],
        cwd=tmp_path,
        env=env_for(clone),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    intro = "".join(proc.stdout.readline() for _ in range(3))
    token = re.search(r"BOT_TOKEN=(\S+)", intro)
    assert f"http://127.0.0.1:{port}" in intro and token, intro
    try:
        yield f"http://127.0.0.1:{port}", token.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_the_readme_names_the_walk() -> None:
    """What this file walks is what the README tells a stranger to do."""
    for step in ("opsbot demo", "opsbot init", "opsbot check-config", "opsbot run", "/start", "ALERT_CHAT_IDS"):
        assert step in README, step
    assert "kill -HUP" in README and "opsbot emulator" in README


def test_try_it_the_demo_runs_from_a_clean_clone(clone: Path, tmp_path: Path) -> None:
    proc = opsbot(clone, tmp_path, "demo", "--dir", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alice" in proc.stdout and "Traceback" not in proc.stderr


def test_running_it_for_real_init_run_start_reload(clone: Path, tmp_path: Path, emulator: tuple[str, str]) -> None:
    url, token = emulator
    ops = tmp_path / "ops"
    ops.mkdir()
    init = opsbot(clone, ops, "init")
    assert init.returncode == 0, init.stderr
    assert (ops / "opsbot.yaml").is_file() and (ops / ".env").is_file()
    dotenv = ops / ".env"
    port = free_port()
    set_env_line(dotenv, "BOT_TOKEN", token)  # step 1: the token (here the emulator's)
    set_env_line(dotenv, "HTTP_PORT", str(port))
    set_env_line(dotenv, "ALERT_CHAT_IDS", str(TEAM))
    with dotenv.open("a", encoding="utf-8") as f:
        f.write(f"TELEGRAM_API_URL={url}\n")
    check = opsbot(clone, ops, "check-config")  # step 2
    assert check.returncode == 0 and "ok" in check.stdout, check.stdout + check.stderr

    run = subprocess.Popen(  # step 3
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=ops,
        env=env_for(clone),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def cards(chat: int) -> list[dict[str, Any]]:
        return [
            m
            for m in http_json(f"{url}/_emulator/chats/{chat}/messages")
            if m["from_bot"] and "nightly_backup" in m["text"] and m["buttons"]
        ]

    try:
        eventually("the heartbeat's alert in the team's group", lambda: cards(TEAM))  # an alert arrives
        # Step 4: the bot is added to a new group; /start there answers with the id and the setting.
        http_json(f"{url}/_emulator/chats/{NEW_GROUP}/messages", {"text": "/start"})
        answer = eventually(
            "the answer to /start",
            lambda: [m for m in http_json(f"{url}/_emulator/chats/{NEW_GROUP}/messages") if m["from_bot"]],
        )[0]
        assert str(NEW_GROUP) in answer["text"] and "ALERT_CHAT_IDS" in answer["text"]
        # Step 5: the id goes in .env, and SIGHUP re-reads it: the alert still firing arrives there.
        set_env_line(dotenv, "ALERT_CHAT_IDS", f"{TEAM},{NEW_GROUP}")
        run.send_signal(signal.SIGHUP)
        [card] = eventually("the still-firing alert in the new group", lambda: cards(NEW_GROUP), timeout=60)
        assert "no ping yet" in card["text"]
        assert len(cards(TEAM)) == 1  # the team's group did not get it again
    finally:
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-2000:]
    assert "Traceback" not in err and token not in err
    assert len(cards(NEW_GROUP)) == 1  # once
