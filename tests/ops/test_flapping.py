"""Flap detection: more than FLAP_THRESHOLD fire/resolve changes within FLAP_WINDOW → one notice, then
quiet until it has held one state for FLAP_SETTLE; the settle is announced once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.metrics import Metrics
from ops.runtime import OpsCore
from ops.storage.tables import alert_events, outbox
from tests.ops.test_engine import detector_config, result


@pytest.fixture
async def core(tmp_path: Path):
    clock = FakeClock()
    cfg, _ = detector_config()
    settings = make_settings(
        tmp_path / "ops.db",
        alert_dedup_window_sec=0,  # every re-fire is a new incident: the noisiest case
        flap_threshold=4,
        flap_window="30m",
        flap_settle="10m",
    )
    core = OpsCore.build(settings, cfg, metrics=Metrics(), clock=clock)
    await core.migrate()
    yield core
    await core.close()


async def kinds(core: OpsCore) -> list[str]:
    async with core.db.connect() as conn:
        rows = await conn.execute(select(outbox.c.kind).where(outbox.c.chat_id == -1001).order_by(outbox.c.id))
        return [r.kind for r in rows]


async def events(core: OpsCore) -> list[str]:
    async with core.db.connect() as conn:
        return [r.event for r in await conn.execute(select(alert_events.c.event).order_by(alert_events.c.id))]


async def test_a_flapping_alert_is_announced_once_then_quiet_until_it_settles(core: OpsCore) -> None:
    detector = core.config.detectors[0]
    clock = core.clock  # type: ignore[attr-defined]
    for n in range(12):  # fail, pass, fail, pass … one minute apart
        await core.engine.process(detector, [result(ok=n % 2 == 1)])
        clock.advance(60)
    # Changes 1-4 notify as usual (fired, resolved, fired, resolved); the 5th starts flapping.
    assert await kinds(core) == ["alert", "resolved", "alert", "resolved", "flapping"]
    assert (await events(core)).count("flapping_started") == 1
    assert core.metrics.alerts_flapping_total.labels("cash_balance")._value.get() == 1

    # It keeps failing now: nothing more until it has held that state for 10 minutes.
    await core.engine.process(detector, [result(ok=False)])
    clock.advance(9 * 60)
    assert (await core.pipeline.tick()).settled == []
    clock.advance(61)
    assert len((await core.pipeline.tick()).settled) == 1
    # It fired while flapping, so this chat has no card for it yet: the settle brings one, with buttons.
    assert await kinds(core) == ["alert", "resolved", "alert", "resolved", "flapping", "alert"]
    assert (await core.pipeline.tick()).settled == []  # once

    # Settled: a resolve notifies again as usual.
    clock.advance(60)
    await core.engine.process(detector, [result(ok=True)])
    assert (await kinds(core))[-1] == "resolved"


async def test_settling_while_resolved_says_so_once(core: OpsCore) -> None:
    detector = core.config.detectors[0]
    clock = core.clock  # type: ignore[attr-defined]
    for n in range(6):
        await core.engine.process(detector, [result(ok=n % 2 == 1)])
        clock.advance(30)
    assert (await kinds(core))[-1] == "flapping"
    clock.advance(600)
    assert len((await core.pipeline.tick()).settled) == 1
    assert (await kinds(core))[-1] == "settled"  # the "stopped flapping: resolved" notice
    async with core.db.connect() as conn:
        payload = await conn.scalar(select(outbox.c.payload_json).order_by(outbox.c.id.desc()).limit(1))
    assert '"firing": false' in payload


async def test_flap_detection_off_with_threshold_zero(tmp_path: Path) -> None:
    cfg, detector = detector_config()
    settings = make_settings(tmp_path / "ops.db", alert_dedup_window_sec=0, flap_threshold=0)
    core = OpsCore.build(settings, cfg, metrics=Metrics(), clock=FakeClock())
    await core.migrate()
    try:
        for n in range(10):
            await core.engine.process(detector, [result(ok=n % 2 == 1)])
        assert await kinds(core) == ["alert", "resolved"] * 5
    finally:
        await core.close()
