"""opsbot must never look healthy while it checks nothing (issue 21): Telegram down at start holds up no
detector and the alert arrives once Telegram is up; every duty that dies (scheduler, poller, sender,
housekeeping) comes back with backoff, logged once per failure streak; /healthz says what runs and
answers 503 when the leader's scheduler is not running, a detector has not run for 3 of its intervals, or
the SQLite file was deleted under it (issue 22, item 18)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from apscheduler.triggers.base import BaseTrigger
from harness import ALERT_CHATS, TOKEN
from sqlalchemy import event

from bot.app import OpsBotApp
from bot.emulator import BotApiEmulator
from helpers import database_url, make_settings, make_sqlite, query, sql
from ops.config import parse_config

SHOP = "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', 5);"
CONFIG = """
targets: {{shop: "{shop}"}}
detectors:
  - {{name: cash, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", severity: critical, every: 1s}}
{extra}"""


async def get_health(app: OpsBotApp) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.http_port}/healthz") as response,
    ):
        return response.status, await response.json()


async def until(what: str, predicate: Callable[[], Any], timeout: float = 15) -> Any:
    """Await (async or sync) `predicate` until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Callable[..., Any]]:
    """Start an opsbot with its scheduler, fast backoffs and housekeeping every 0.2 s."""
    apps: list[OpsBotApp] = []

    async def start(extra: str = "", **overrides: Any) -> OpsBotApp:
        shop = make_sqlite(tmp_path / "shop.db", SHOP)
        settings = make_settings(
            tmp_path / "ops.db",
            bot_token=TOKEN,
            telegram_api_url=emulator.url,
            alert_chat_ids=list(ALERT_CHATS),
            http_port=0,
            **overrides,
        )
        app = OpsBotApp(settings, parse_config(CONFIG.format(shop=shop, extra=extra)), polling_timeout=1)
        app.duties.backoff_min, app.duties.backoff_max = 0.05, 0.2
        app.housekeeping_every = 0.2
        apps.append(app)
        await app.start()
        assert app.sender is not None
        app.sender.backoff_base = 0.05
        return app

    yield start
    for app in apps:
        await app.stop()


def fail_sql(app: OpsBotApp, fragment: str, times: int) -> dict[str, int]:
    """The next `times` statements containing `fragment` raise inside the database layer."""
    left = {"times": times}

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if fragment in statement and left["times"] > 0:
            left["times"] -= 1
            raise RuntimeError(f"injected: {fragment} failed")

    event.listen(app.core.db.sync_engine, "before_cursor_execute", before)
    return left


class BrokenTrigger(BaseTrigger):
    """A trigger that raises when the scheduler asks it for the next run: inside APScheduler's wakeup."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        raise RuntimeError("injected: the trigger broke")


async def noop() -> None:
    return None


def inject_scheduler(app: OpsBotApp) -> None:
    assert app.scheduler is not None
    app.scheduler.add_job(noop, trigger=BrokenTrigger(), next_run_time=datetime.now(UTC), id="injected")


def inject_poller(app: OpsBotApp) -> None:
    """The next getUpdates ends in a CancelledError nobody asked for (as a buggy library may raise):
    aiogram's polling loop catches every Exception, not that — polling ends."""
    armed = {"left": 1}

    async def fault(make_request: Any, bot: Any, method: Any) -> Any:
        if method.__api_method__ == "getUpdates" and armed["left"]:
            armed["left"] -= 1
            raise asyncio.CancelledError("injected")
        return await make_request(bot, method)

    assert app.bot is not None
    app.bot.session.middleware(fault)


def inject_sender(app: OpsBotApp) -> None:
    fail_sql(app, "first_id", 1)  # the sender's query for the next row of each chat


def inject_housekeeping(app: OpsBotApp) -> None:
    fail_sql(app, "LEFT OUTER JOIN ops_alert_state", 1)  # the tick's query of the open alerts


async def sent_alert(app: OpsBotApp, emulator: BotApiEmulator, tmp_path: Path) -> None:
    sql(tmp_path / "shop.db", "UPDATE b SET v = -5")
    await emulator.wait_for(lambda: any("cash" in m.text for m in emulator.bot_messages(ALERT_CHATS[0])), 15)


async def answered_health(app: OpsBotApp, emulator: BotApiEmulator, tmp_path: Path) -> None:
    emulator.send_text(ALERT_CHATS[0], "/health")
    await emulator.wait_for(lambda: any("Health" in m.text for m in emulator.bot_messages(ALERT_CHATS[0])), 15)


async def detector_ran(app: OpsBotApp, emulator: BotApiEmulator, tmp_path: Path) -> None:
    assert app.schedule is not None
    after = time.monotonic()
    await until("a detector run after the restart", lambda: app.schedule.last_run.get("cash", 0) > after)


async def housekeeping_ticked(app: OpsBotApp, emulator: BotApiEmulator, tmp_path: Path) -> None:
    await until("a housekeeping tick after the restart", lambda: app.duties.get("housekeeping").failures == 0)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("duty", "inject", "works"),
    [
        ("scheduler", inject_scheduler, detector_ran),
        ("poller", inject_poller, answered_health),
        ("sender", inject_sender, sent_alert),
        ("housekeeping", inject_housekeeping, housekeeping_ticked),
    ],
)
async def test_a_duty_killed_from_inside_comes_back_and_says_so_once(
    running: Callable[..., Any],
    emulator: BotApiEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    duty: str,
    inject: Callable[[OpsBotApp], None],
    works: Callable[..., Any],
) -> None:
    app: OpsBotApp = await running()
    await until(f"{duty} running", lambda: app.duties.running(duty))
    if duty == "scheduler":
        await until("the scheduler built", lambda: app.scheduler is not None)
    caplog.set_level(logging.INFO, logger="ops.duties")
    inject(app)

    async def restarted() -> dict[str, Any] | None:
        status, body = await get_health(app)
        state = body["duties"][duty]
        return body if status == 200 and state["restarts"] == 1 and state["state"] == "running" else None

    body = await until(f"{duty} restarted", restarted)
    why = "cancelled from inside" if duty == "poller" else "injected"
    assert why in body["duties"][duty]["last_error"]
    await works(app, emulator, tmp_path)
    died = [r for r in caplog.records if r.getMessage().startswith(f"duty {duty} died")]
    assert len(died) == 1 and died[0].levelno == logging.ERROR
    assert all(d["restarts"] == 0 for name, d in (await get_health(app))[1]["duties"].items() if name != duty)


async def test_a_failure_streak_is_logged_once_and_its_end_too(
    running: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    app: OpsBotApp = await running()
    await until("housekeeping running", lambda: app.duties.running("housekeeping"))
    caplog.set_level(logging.DEBUG, logger="ops.duties")
    left = fail_sql(app, "LEFT OUTER JOIN ops_alert_state", 4)
    await until("four failures", lambda: left["times"] == 0)
    await until("back", lambda: any("is back after" in r.getMessage() for r in caplog.records))
    messages = [r.getMessage() for r in caplog.records if r.name == "ops.duties" and r.levelno >= logging.INFO]
    assert [m.split(":")[0] for m in messages] == [
        "duty housekeeping died",
        "duty housekeeping is back after 4 failure(s)",
    ]
    assert app.duties.get("housekeeping").restarts == 4  # type: ignore[union-attr]


async def test_healthz_is_503_while_the_leaders_scheduler_is_not_running(running: Callable[..., Any]) -> None:
    app: OpsBotApp = await running()
    await until("scheduler running", lambda: app.scheduler is not None)
    status, body = await get_health(app)
    assert status == 200 and body["scheduler"] == "running" and body["telegram"] == "ok" and body["alert_chats"] == 2
    app.duties.backoff_min = app.duties.backoff_max = 3.0  # it stays down a while
    inject_scheduler(app)
    status, body = await until("503", lambda: _status_is(app, 503))
    assert body["scheduler"] == "stopped" and body["status"] == "error"
    assert body["problems"] == ["the scheduler is not running on the leader"]
    assert body["duties"]["scheduler"]["state"] == "restarting"
    await until("200 again", lambda: _status_is(app, 200), timeout=10)


async def test_healthz_is_503_when_a_detector_has_not_run_for_3_intervals(running: Callable[..., Any]) -> None:
    extra = '  - {name: slow, kind: python, function: "detector_functions:slow", every: 1s, timeout: 30s}\n'
    app: OpsBotApp = await running(extra)
    _, body = await until("503", lambda: _status_is(app, 503), timeout=10)
    assert body["stale_detectors"] == ["slow"] and body["scheduler"] == "running"
    assert body["problems"] == ["no run for 3 of their intervals: slow"]


async def _status_is(app: OpsBotApp, status: int) -> tuple[int, dict[str, Any]] | None:
    got = await get_health(app)
    return got if got[0] == status else None


@pytest.mark.sqlite_only
async def test_deleting_the_sqlite_file_under_a_running_opsbot_is_noticed(
    running: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app: OpsBotApp = await running()
    await until("200", lambda: _status_is(app, 200))
    caplog.set_level(logging.INFO, logger="ops.storage.dbfile")
    (tmp_path / "ops.db").unlink()
    _, body = await until("503", lambda: _status_is(app, 503), timeout=10)
    problem = f"the SQLite database {tmp_path / 'ops.db'} was deleted under the running opsbot"
    assert body["database"] == problem and problem in body["problems"]
    await asyncio.sleep(5 * app.housekeeping_every)  # a few more ticks: still one line in the log
    assert [r.levelno for r in caplog.records if "was deleted" in r.getMessage()] == [logging.ERROR]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


OUTAGE = 30.0  # seconds between opsbot's start and Telegram's (the emulator's) coming up
EVERY = 10  # the detector's interval


@pytest.mark.sqlite_only
async def test_telegram_down_at_start_detectors_run_and_the_alert_arrives_once_it_is_up(tmp_path: Path) -> None:
    telegram_port, http_port = free_port(), free_port()  # nothing listens on the first yet
    shop = make_sqlite(tmp_path / "shop.db", "CREATE TABLE b (k TEXT, v REAL); INSERT INTO b VALUES ('wb', -5);")
    (tmp_path / "opsbot.yaml").write_text(
        f'targets: {{shop: "{shop}"}}\ndetectors:\n'
        f'  - {{name: cash, kind: sql, target: shop, query: "SELECT k, v FROM b", alert_if: "< 0", every: {EVERY}s}}\n',
        encoding="utf-8",
    )
    db = database_url(tmp_path / "ops.db")
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{telegram_port}",
        "DATABASE_URL": db,
        "OPSBOT_CONFIG": str(tmp_path / "opsbot.yaml"),
        "ALERT_CHAT_IDS": str(ALERT_CHATS[0]),
        "HTTP_PORT": str(http_port),
    }
    log = (tmp_path / "opsbot.log").open("wb")  # closed by the OS with the process
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, stdout=log, stderr=log, cwd=tmp_path
    )
    started = time.monotonic()
    emulator = BotApiEmulator(port=telegram_port)

    async def health() -> tuple[int, dict[str, Any]] | None:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{http_port}/healthz") as response,
            ):
                return response.status, await response.json()
        except aiohttp.ClientError:
            return None

    try:
        await until("/healthz", lambda: _leads(health()), timeout=30)
        up = time.monotonic()
        status, body = await until("a detector run", lambda: _checked(health(), db), timeout=EVERY)
        assert time.monotonic() - up <= EVERY  # the first run within its interval, Telegram or not
        assert status == 200 and body["scheduler"] == "running" and body["telegram"].startswith("unreachable since ")
        assert body["outbox_depth"] == 1  # the alert waits

        await asyncio.sleep(max(0.0, started + OUTAGE - time.monotonic()))
        await emulator.start()
        emulator.add_chat(ALERT_CHATS[0])
        await emulator.wait_for(lambda: emulator.bot_messages(ALERT_CHATS[0]), timeout=30)
        [card] = emulator.bot_messages(ALERT_CHATS[0])
        assert "cash[wb]" in card.text
        status, body = await until("telegram ok, polling", lambda: _telegram_ok(health()), timeout=30)
        assert status == 200 and body["duties"]["poller"]["restarts"] >= 1
        emulator.send_text(ALERT_CHATS[0], "/health")  # and it polls
        await emulator.wait_for(lambda: len(emulator.bot_messages(ALERT_CHATS[0])) == 2, timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await emulator.stop()
    text = (tmp_path / "opsbot.log").read_text()
    assert "Traceback" not in text and TOKEN not in text
    assert text.count("duty poller died") == 1  # once for the whole outage


async def _leads(health: Any) -> Any:
    got = await health
    return got if got and got[1].get("leader") else None


async def _checked(health: Any, db: str) -> Any:
    got = await health
    if got is None:
        return None
    runs = await asyncio.to_thread(query, db, "SELECT COUNT(*) FROM ops_check_results WHERE detector = 'cash'")
    return got if runs[0][0] and got[1]["outbox_depth"] else None


async def _telegram_ok(health: Any) -> Any:
    got = await health
    return got if got and got[1]["telegram"] == "ok" and got[1]["duties"]["poller"]["state"] == "running" else None
