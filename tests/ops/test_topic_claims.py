"""Claiming an incident's forum topic: of replicas claiming at once exactly one creates it; a failed
creation leaves the claim free; a claim its replica abandoned is taken over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from helpers import database_url
from ops.storage.db import create_engine, migrate
from ops.storage.topics import TopicStore

NOW = datetime(2026, 11, 30, 12, 0, 0)
CHAT = -1001


async def test_one_claim_wins_and_the_others_see_its_topic(tmp_path: Path) -> None:
    engine = create_engine(database_url(tmp_path / "ops.db"))
    try:
        await migrate(engine)
        stores = [TopicStore(engine) for _ in range(4)]
        won = await asyncio.gather(*(s.claim(7, CHAT, "🔴 x", NOW, n) for n, s in enumerate(stores, start=1)))
        assert sorted(won) == [False, False, False, True]
        store = stores[0]
        claim = await store.get(7, CHAT)
        assert claim is not None and claim.thread_id is None and claim.claimed_by == won.index(True) + 1

        await store.release(7, CHAT)  # Telegram refused: the next attempt claims again
        assert await store.get(7, CHAT) is None
        assert await store.claim(7, CHAT, "🔴 x", NOW, 2)
        assert not await store.take_over(7, CHAT, NOW - timedelta(seconds=60))  # fresh: not abandoned
        assert await store.take_over(7, CHAT, NOW + timedelta(seconds=1))  # its replica died mid-way
        assert await store.claim(7, CHAT, "🔴 x", NOW, 3)
        await store.opened(7, CHAT, 42, "🔴 x")
        assert not await store.take_over(7, CHAT, NOW + timedelta(days=1))  # a topic that exists stays
        assert await store.threads(CHAT, [7, 8]) == {7: 42}
        await store.drop(7, CHAT, 42)
        assert await store.get(7, CHAT) is None
    finally:
        await engine.dispose()
