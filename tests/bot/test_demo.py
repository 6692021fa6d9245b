"""`opsbot demo` — the README's first command — plays its story and exits 0 by itself."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_ops_db  # no opsbot database of the test's own, or it makes each on purpose


def test_demo_plays_the_story_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Which card arrives first depends on which detector finishes first: the buttons' numbers vary.
    assert "🔴 CRITICAL · cash_balance" in out
    assert re.search(r"\[\d+ ✅ Ack\] \[\d+ 🔁 Check now\] \[\d+ 🛠 Remediate\] \[\d+ 📖 Runbook\]", out), out
    assert "Only admins can do that." in out
    assert "👀 Acknowledged by @alice" in out
    for answer in ("🩺 Health · 10 detectors", "📋 Alerts · 1–3 of 3", "🎯 SLOs · window 3d"):
        assert answer in out
    assert "✅ RESOLVED · sales_freshness · was ERROR" in out and "sales_freshness resolved after" in out
    assert "Telegram refused" not in out
    assert f"opsbot db   {(tmp_path / 'demo' / 'opsbot.db').resolve()}" in out
    assert (tmp_path / "demo" / "shop.db").is_file()


def test_demo_of_a_postgres_example(tmp_path: Path, postgres_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--example",
            "trading-pipeline",
            "--postgres",
            postgres_url,
            "--dir",
            str(tmp_path / "demo"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "🔴 CRITICAL · duplicate_executions" in proc.stdout and "telemetry_lag resolved after" in proc.stdout


def test_demo_without_postgres_says_so_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--example",
            "devdiag",
            "--postgres",
            "postgresql+asyncpg://postgres@127.0.0.1:1/test",
            "--dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("opsbot demo: the devdiag example needs PostgreSQL")


def test_interactive_demo_takes_commands_and_button_numbers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "bot.cli", "demo", "--interactive", "--dir", str(tmp_path / "demo")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []

    def read_until(marker: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{marker!r} not seen in:\n{''.join(seen)[-3000:]}"
            try:
                seen.append(lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                pass

    def type_line(text: str) -> None:
        proc.stdin.write(text + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    try:
        read_until("[1 ✅ Ack]")
        type_line("/detectors")
        read_until("🔎 Detectors · 10")
        type_line("1")  # press ✅ Ack on the first card
        read_until("Acknowledged by @alice")
        type_line("quit")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
