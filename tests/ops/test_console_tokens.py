"""The console's login links and sessions in the database (SQLite and PostgreSQL): a link works once —
also when two requests race with it — and not after 10 minutes; only hashes are stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.runtime import OpsCore
from ops.storage.console import LOGIN, SESSION, ConsoleTokens, TokenOwner
from ops.storage.tables import console_tokens

ALICE = TokenOwner(1001, "@alice")


@pytest.fixture
async def core(tmp_path: Path):
    core = OpsCore.build(make_settings(tmp_path / "ops.db"), parse_config("detectors: []", env={}), clock=FakeClock())
    await core.migrate()
    yield core
    await core.close()


async def test_a_login_link_is_used_once_even_by_racing_requests(core: OpsCore) -> None:
    tokens, now = ConsoleTokens(core.db), core.clock()
    secret = await tokens.issue(LOGIN, ALICE, now, timedelta(minutes=10))
    won = await asyncio.gather(*(tokens.redeem_login(secret, now) for _ in range(5)))
    assert [w for w in won if w is not None] == [ALICE]
    assert await tokens.redeem_login(secret, now) is None
    async with core.db.connect() as conn:
        stored = list(await conn.scalars(select(console_tokens.c.token_hash)))
    assert secret not in stored and len(stored) == 1  # only its hash


async def test_links_expire_after_ten_minutes_and_sessions_end(core: OpsCore) -> None:
    tokens, now = ConsoleTokens(core.db), core.clock()
    secret = await tokens.issue(LOGIN, ALICE, now, timedelta(minutes=10))
    assert await tokens.redeem_login(secret, now + timedelta(minutes=10, seconds=1)) is None
    assert await tokens.redeem_login("not-a-token", now) is None
    session = await tokens.issue(SESSION, ALICE, now, timedelta(hours=12))
    assert await tokens.redeem_login(session, now) is None  # a session id is no login link
    assert await tokens.session(session, now + timedelta(hours=11)) == ALICE
    assert await tokens.session(session, now + timedelta(hours=12, seconds=1)) is None
    await tokens.end_session(session, now)
    assert await tokens.session(session, now) is None
