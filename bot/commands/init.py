"""`opsbot init`: a starting `opsbot.yaml` and `.env` in the current folder, and what to do next.

The config works as written (its target is opsbot's own SQLite database) and its heartbeat alerts
until it is first pinged, so the first `opsbot run` shows a whole alert going out. On a terminal it
asks for the bot token and the alert chat; otherwise it asks nothing. It never overwrites a file
without `--force`.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

CONFIG_NAME, ENV_NAME = "opsbot.yaml", ".env"
HEARTBEAT = "nightly_backup"
HTTP = "127.0.0.1:8080"
TOKEN_SHAPE_HINT = "<bot id>:<about 35 letters, digits, _ or ->"

CONFIG = f"""\
# opsbot.yaml, written by `opsbot init`. Check it with `opsbot check-config`.
# Every detector kind and field is described in opsbot's README and docs/.

# Targets: the databases detectors read (read-only where the driver allows), by name. This one is
# opsbot's own SQLite database (DATABASE_URL in .env), so the file works as it is; add your
# application's database next to it, e.g.  app: postgresql://readonly:secret@db.internal:5432/app
targets:
  opsbot: sqlite+aiosqlite:///./opsbot.db

detectors:
  # A heartbeat (dead man's switch): your job calls http://{HTTP}/ping/{HEARTBEAT} when it is
  # done (…/{HEARTBEAT}/fail when it failed), and opsbot alerts when a ping is late. With
  # `no_data: alert` it also alerts until the first ping, so your first `opsbot run` shows a real
  # alert. Resolve it with:  curl -fsS http://{HTTP}/ping/{HEARTBEAT}
  - name: {HEARTBEAT}
    description: The nightly backup pings when it is done
    kind: heartbeat
    period: 1d          # expected once a day,
    grace: 1h           # with an hour of slack
    no_data: alert      # never pinged counts as missing
    severity: error
    every: 1m

  # A SQL check: the query returns one value (or rows of key, value), compared with alert_if.
  - name: outbox_backlog
    description: Notifications waiting to go out (Telegram unreachable, or a chat refusing them)
    kind: sql
    target: opsbot
    query: SELECT COUNT(*) FROM ops_outbox WHERE status = 'pending'
    alert_if: "> 500"
    severity: warning
    every: 5m

  # The size of a target database; alert_if takes sizes like 500MB or 5GB.
  - name: opsbot_db_size
    kind: db_size
    target: opsbot
    alert_if: "> 1GB"
    every: 1h

  # More kinds to copy and adapt (they need an `app` target or a URL of yours):
  # - name: api_up
  #   kind: http
  #   url: https://app.example.com/health
  #   expect_status: 200
  #   max_latency: 2s
  # - name: orders_fresh
  #   kind: freshness
  #   target: app
  #   query: SELECT MAX(created_at) FROM orders
  #   max_age: 30m
"""

ENV = """\
# opsbot's settings, written by `opsbot init`. opsbot reads .env from the folder it runs in; variables
# set in the environment win. .env.example in opsbot's repository lists every setting.

# The bot's token from @BotFather ({shape}). Empty: opsbot runs headless —
# detectors and alerts run, notifications wait until a token is set.
BOT_TOKEN={token}
# Chats that receive alerts, comma-separated; groups are negative (-1001234567890). Not known yet? Add
# the bot to the group and send /start there: it answers with the id to put here.
ALERT_CHAT_IDS={chats}
# Users who may press admin-only buttons (Check now, Remediate) and run /sweep, comma-separated;
# /start in a private chat with the bot tells you your id.
ADMIN_USER_IDS=
# Chats that see every incident in /alerts and receive notify_admin remediations and escalations.
ADMIN_CHAT_IDS=
# opsbot's own state. PostgreSQL: postgresql://user:pass@host:5432/opsbot
DATABASE_URL=sqlite+aiosqlite:///./opsbot.db
OPSBOT_CONFIG=./{config}
# opsbot's HTTP server: /metrics, /healthz and heartbeat pings (/ping/<name>).
HTTP_HOST=127.0.0.1
HTTP_PORT=8080
# To try it without Telegram, run `opsbot emulator` and use the URL and token it prints:
# TELEGRAM_API_URL=http://127.0.0.1:8081
"""


def run_init(folder: Path, *, force: bool = False, ask: bool | None = None) -> int:
    config, env = folder / CONFIG_NAME, folder / ENV_NAME
    existing = [p.name for p in (config, env) if p.exists()]
    if existing and not force:
        which = " and ".join(existing)
        verb = "exist" if len(existing) > 1 else "exists"
        message = f"{which} already {verb} here; keep them, or overwrite with: opsbot init --force"
        print(f"opsbot init: {message}", file=sys.stderr)
        return 2
    if ask is None:
        ask = sys.stdin is not None and sys.stdin.isatty()
    try:
        token, chats = _ask() if ask else ("", "")
    except EOFError:  # Ctrl-D at a question
        print("\nopsbot init: no answer; nothing written", file=sys.stderr)
        return 2
    try:
        config.write_text(CONFIG, encoding="utf-8")
        settings = ENV.format(shape=TOKEN_SHAPE_HINT, token=token, chats=chats, config=CONFIG_NAME)
        env.write_text(settings, encoding="utf-8")
        env.chmod(0o600)  # it holds the bot's token
    except OSError as exc:
        print(f"opsbot init: cannot write in {folder}: {exc.strerror}", file=sys.stderr)
        return 2
    _next_steps(folder, token, chats)
    return 0


def _ask() -> tuple[str, str]:
    """The token (not echoed) and the alert chat; Enter skips either."""
    from ops.settings import BOT_TOKEN_SHAPE

    print("Two questions; press Enter to skip either (you can edit .env later).")
    token = ""
    while True:
        token = getpass.getpass("Bot token from @BotFather (not shown as you type): ").strip()
        if not token or BOT_TOKEN_SHAPE.fullmatch(token):
            break
        print(f"  That is not a bot token ({TOKEN_SHAPE_HINT}); try again, or Enter to skip.")
    chats = ""
    while True:
        chats = input("Alert chat id (a group's id is negative; /start in the group tells you): ").strip()
        if not chats or _ids(chats):
            break
        print("  Expected a number such as -1001234567890 (several: comma-separated); or Enter to skip.")
    return token, chats


def _ids(text: str) -> bool:
    parts = [p.strip() for p in text.split(",")]
    return all(p.lstrip("-").isdigit() for p in parts)


def _next_steps(folder: Path, token: str, chats: str) -> None:
    here = "this folder" if folder == Path.cwd() else str(folder)
    print(f"Wrote {CONFIG_NAME} (3 detectors, one target) and {ENV_NAME} (settings) in {here}.")
    print("Next:")
    step = 1
    if not token:
        print(f"  {step}. Put your bot's token from @BotFather in .env (BOT_TOKEN=…).")
        print("     No bot yet? Try everything against a local Telegram: opsbot emulator (it says how).")
        step += 1
    print(f"  {step}. opsbot check-config     checks {CONFIG_NAME}")
    print(f"  {step + 1}. opsbot run              detectors, alerts, HTTP on {HTTP}, the bot")
    where = "the group" if chats else "your team's group"
    tail = "" if chats else " (its id goes in ALERT_CHAT_IDS in .env, then kill -HUP the running opsbot, or restart it)"
    print(f"  {step + 2}. Add the bot to {where} and send /start there{tail}.")
    print(f"The heartbeat {HEARTBEAT} alerts until it is pinged: curl -fsS http://{HTTP}/ping/{HEARTBEAT}")
    if os.name == "posix" and token:
        print(".env holds your token: it is readable by you alone (mode 600).")
