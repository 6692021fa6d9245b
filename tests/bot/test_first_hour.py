"""The first hour: `opsbot init` writes a config that passes check-config, and `opsbot emulator` is a
Telegram a real `opsbot run` can talk to — an alert from init's config arrives in its group."""

from __future__ import annotations

import json
import os
import pty
import re
import select
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

pytestmark = pytest.mark.no_ops_db  # each test's opsbot keeps its own SQLite file in its folder

SETTINGS = ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS", "OPSBOT_CONFIG", "TELEGRAM_API_URL", "ADMIN_USER_IDS")
TOKEN_SEEN = re.compile(r"BOT_TOKEN=(\S+)")


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in SETTINGS}, **extra}


def opsbot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=clean_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def eventually(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.2)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`opsbot emulator --port 0` as a user starts it: (process, its URL, the token it suggests)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "emulator", "--port", "0"],
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    intro = [proc.stdout.readline() for _ in range(3)]
    url = re.search(r"http://127\.0\.0\.1:\d+", intro[0])
    token = TOKEN_SEEN.search(intro[2])
    assert url and token, intro
    try:
        yield proc, url.group(0), token.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_init_writes_a_config_that_passes_check_config_and_asks_nothing(tmp_path: Path) -> None:
    proc = opsbot(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    assert "?" not in proc.stdout.split("\n")[0] and "token from @BotFather (not shown" not in proc.stdout
    assert "opsbot check-config" in proc.stdout and "opsbot run" in proc.stdout and "/start" in proc.stdout
    assert "curl -fsS http://127.0.0.1:8080/ping/nightly_backup" in proc.stdout
    env = (tmp_path / ".env").read_text()
    for setting in ("BOT_TOKEN=", "ALERT_CHAT_IDS=", "ADMIN_USER_IDS=", "ADMIN_CHAT_IDS=", "DATABASE_URL="):
        assert f"\n{setting}" in env
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # it will hold the token
    checked = opsbot(tmp_path, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "./opsbot.yaml: ok — 3 detector(s), 1 target(s)"


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "opsbot.yaml").write_text("# mine\n")
    proc = opsbot(tmp_path, "init")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "opsbot init: opsbot.yaml already exists here; keep them, or overwrite with: opsbot init --force"
    )
    assert (tmp_path / "opsbot.yaml").read_text() == "# mine\n" and not (tmp_path / ".env").exists()
    forced = opsbot(tmp_path, "init", "--force")
    assert forced.returncode == 0 and "nightly_backup" in (tmp_path / "opsbot.yaml").read_text()


def _read_until(fd: int, seen: list[str], marker: str, count: int = 1, timeout: float = 60) -> None:
    """Read the terminal until `marker` has appeared `count` times in all that was read."""
    deadline = time.monotonic() + timeout
    while "".join(seen).count(marker) < count:
        assert time.monotonic() < deadline, f"{marker!r} x{count} not in {''.join(seen)!r}"
        if select.select([fd], [], [], 0.5)[0]:
            try:
                seen.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:  # the child closed its terminal
                raise AssertionError(f"{marker!r} x{count} not in {''.join(seen)!r}") from None


def _reap(pid: int, fd: int, timeout: float = 30) -> int:
    """The child's exit code, once it exits; one still running after `timeout` (a failed test) is killed."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        if select.select([fd], [], [], 0.1)[0]:  # keep the terminal drained so the child never blocks writing
            try:
                os.read(fd, 4096)
            except OSError:
                pass


def test_init_asks_for_the_token_and_chat_on_a_terminal(tmp_path: Path) -> None:
    token = "123456:AAHk3v9-xY_z0123456789abcdefghijklm"
    pid, fd = pty.fork()
    if pid == 0:  # the child: `opsbot init` with a terminal of its own
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "init"], clean_env())
    seen: list[str] = []
    try:
        _read_until(fd, seen, "Bot token")
        os.write(fd, b"not-a-token\n")
        # The second prompt, not the complaint before it: getpass flushes what was typed before its prompt.
        _read_until(fd, seen, "Bot token", count=2)
        assert "That is not a bot token" in "".join(seen)
        os.write(fd, token.encode() + b"\n")
        _read_until(fd, seen, "Alert chat id")
        os.write(fd, b"-1001234567890\n")
        _read_until(fd, seen, "opsbot run")
    finally:
        code = _reap(pid, fd)
        os.close(fd)
    assert code == 0, "".join(seen)
    assert token not in "".join(seen)  # typed without echo
    env = (tmp_path / ".env").read_text()
    assert f"\nBOT_TOKEN={token}\n" in env and "\nALERT_CHAT_IDS=-1001234567890\n" in env


def test_emulator_on_a_terminal_takes_typed_messages(tmp_path: Path) -> None:
    port = free_port()
    pid, fd = pty.fork()
    if pid == 0:  # the child: `opsbot emulator` with a terminal of its own
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "emulator", "--port", str(port)], clean_env())
    seen: list[str] = []
    try:
        _read_until(fd, seen, "Type to write in #ops-alerts as alice")
        os.write(fd, b"/start\n")
        url = f"http://127.0.0.1:{port}/_emulator/chats/-1001/messages"
        said = eventually("alice's /start in the group", lambda: [m for m in http_json(url) if m["text"] == "/start"])
        assert said[0]["user_id"] == 42 and not said[0]["from_bot"]
        os.write(fd, b"quit\n")  # leaves like Ctrl-C
    finally:
        code = _reap(pid, fd)
        os.close(fd)
    assert code == 0, "".join(seen)


def test_emulator_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = opsbot(tmp_path, "emulator", "--port", str(port))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"opsbot emulator: 127.0.0.1:{port} is in use (pick another with --port)"


def test_init_then_run_against_the_emulator_delivers_the_heartbeat_alert(
    tmp_path: Path, emulator: tuple[subprocess.Popen[str], str, str]
) -> None:
    emulator_proc, url, token = emulator
    work = tmp_path / "team"
    work.mkdir()
    assert opsbot(work, "init").returncode == 0
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=clean_env(TELEGRAM_API_URL=url, BOT_TOKEN=token, ALERT_CHAT_IDS="-1001", HTTP_PORT=str(port)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
    )
    messages = f"{url}/_emulator/chats/-1001/messages"
    try:
        card = eventually(
            "the heartbeat's alert in #ops-alerts",
            lambda: next((m for m in http_json(messages) if "nightly_backup" in m["text"] and m["from_bot"]), None),
        )
        assert "no ping yet" in card["text"] and any("Ack" in b["text"] for b in card["buttons"])
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ping/nightly_backup", timeout=10).read()
        eventually(
            "the resolve after the first ping",
            lambda: any("nightly_backup resolved" in m["text"] for m in http_json(messages)),
            timeout=90,  # the heartbeat runs every minute
        )
    finally:
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "Traceback" not in err
    emulator_proc.send_signal(signal.SIGTERM)
    assert emulator_proc.wait(timeout=20) == 0
