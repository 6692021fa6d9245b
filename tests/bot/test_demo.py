"""`opsbot demo` — the README's first command — plays its story and exits 0 by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_plays_the_story_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL", "ALERT_CHAT_IDS")}
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--dir", str(tmp_path / "demo")],
        env=env, capture_output=True, text=True, timeout=90, cwd=tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "🔴 CRITICAL · cash_balance" in out and "[1 ✅ Ack] [2 🔁 Check now] [3 📖 Runbook]" in out
    assert "Only admins can do that." in out
    assert "👀 Acknowledged by @alice" in out
    for answer in ("🩺 Health · 6 detectors", "📋 Alerts · 1–3 of 3", "🎯 SLO · last 3 day(s)"):
        assert answer in out
    assert "✅ RESOLVED · sales_freshness · was ERROR" in out and "sales_freshness resolved after" in out
    assert "Telegram refused" not in out
    assert f"opsbot db   {(tmp_path / 'demo' / 'opsbot.db').resolve()}" in out
    assert (tmp_path / "demo" / "runbooks" / "cash-balance.md").is_file()
