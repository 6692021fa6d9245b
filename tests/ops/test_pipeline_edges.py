"""Edges of the notification pipeline where the engine and the housekeeping tick meet: a mute that ends
between two ticks, escalation and reminders, a reload while a detector's run is on its way, the upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.model import Actor, CheckResult, CheckStatus, Severity
from ops.runtime import OpsCore
from ops.storage.tables import outbox

CONFIG = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
escalation:
  critical: {after: 10m, repeat: 10m}
detectors:
  - {name: cash, kind: db_size, target: t, alert_if: "> 1", severity: critical}
  - {name: lag, kind: db_size, target: t, alert_if: "> 1", severity: warning}
"""
ADMIN = Actor(42, "@admin")


@pytest.fixture
async def core(tmp_path: Path):
    settings = make_settings(
        tmp_path / "ops.db", alert_chat_ids=[-1001], admin_chat_ids=[-1009], alert_repeat_interval_sec=3600
    )
    core = OpsCore.build(settings, parse_config(CONFIG, env={}), clock=FakeClock())
    await core.migrate()
    yield core
    await core.close()


async def check(core: OpsCore, name: str, ok: bool, severity: Severity | None = None):
    det = core.config.detector(name)
    sev = severity or det.severity
    result = CheckResult(name, "", CheckStatus.ok if ok else CheckStatus.fail, sev, f"{name} msg", 2.0)
    return await core.engine.process(det, [result])


async def rows(core: OpsCore, chat: int) -> list[str]:
    async with core.db.connect() as conn:
        q = select(outbox.c.kind).where(outbox.c.chat_id == chat).order_by(outbox.c.id)
        return [r.kind for r in await conn.execute(q)]


async def test_escalation_does_not_reset_the_routed_chats_reminders(core: OpsCore) -> None:
    """ALERT_REPEAT_INTERVAL_SEC=1h: the routed chat should get a reminder after 1h of firing."""
    await check(core, "cash", ok=False)
    for _ in range(13):  # 130 minutes, a tick every 10 minutes
        core.clock.advance(600)
        await core.pipeline.tick()
    assert "escalated" in await rows(core, -1009)
    assert "reminder" in await rows(core, -1001)  # escalation does not reset its pace


async def test_a_refire_after_a_muted_fire_brings_the_card(core: OpsCore) -> None:
    await core.silences.create(
        kind="detector", value="lag", label=None, seconds=60, incident_id=None, reason="deploy", actor=ADMIN
    )
    await check(core, "lag", ok=False)  # muted: no card
    await check(core, "lag", ok=True)  # resolved while muted
    core.clock.advance(120)  # the silence is over
    await core.pipeline.tick()
    report = await check(core, "lag", ok=False)  # fails again within ALERT_DEDUP_WINDOW_SEC (300 s)
    assert report.reopened
    for _ in range(3):
        core.clock.advance(15)
        await core.pipeline.tick()
    assert await rows(core, -1001) != []  # the card, now that nothing mutes it


async def test_a_severity_rise_between_a_silence_end_and_the_tick_keeps_the_card(core: OpsCore) -> None:
    await core.silences.create(
        kind="detector", value="lag", label=None, seconds=60, incident_id=None, reason="deploy", actor=ADMIN
    )
    await check(core, "lag", ok=False)  # muted: no card
    core.clock.advance(61)  # the silence ended; the next tick has not run yet
    await check(core, "lag", ok=False, severity=Severity.error)  # severity raised: stores muted=None
    for _ in range(3):
        core.clock.advance(15)
        await core.pipeline.tick()
    assert "alert" in await rows(core, -1001)  # the tick saw the mute end


def test_migration_0010_maps_flapping_only_while_the_alert_still_flaps() -> None:
    """The old `flapping` key was never cleared when an alert settled: it is not a mute by itself."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "m0010", Path(__file__).parents[2] / "migrations/versions/2026_11_30_0010_mute_columns.py"
    )
    m = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(m)  # type: ignore[union-attr]
    old = {"inhibited_by": None, "silenced_by": None, "flapping": True}
    assert m._mute(old, False) == (None, None)
    assert m._mute(old, True) == ("flapping", "")
    assert m._mute({"silenced_by": "silence 3", "flapping": True}, True) == ("silenced", "3")


async def test_a_run_in_flight_across_a_reload_does_not_reopen_the_removed_detectors_alert(core: OpsCore) -> None:
    import asyncio

    [incident] = (await check(core, "lag", ok=False)).fired
    lag = core.config.detector("lag")

    # Another detector's transaction holds the engine's writer; lag's run (an error: its target does not
    # exist, so still not ok) is measured and waits for it.
    await core.engine._writing.acquire()
    task = asyncio.create_task(core.runner.run_one(lag))  # past `retired`, waiting for the engine
    await asyncio.sleep(0.05)
    # the reload (ConfigReloader.reload): lag removed, its alert resolved as "detector removed"
    new = parse_config(
        CONFIG.replace('  - {name: lag, kind: db_size, target: t, alert_if: "> 1", severity: warning}\n', ""), env={}
    )
    core.current.replace(new, "sha256:x")
    assert await core.incidents.resolve_retired(["lag"], "detector removed") == [incident]
    core.engine._writing.release()
    await task
    got = await core.incidents.get(incident)
    assert got.status.value == "resolved"  # not reopened by a run of a detector that is gone


async def test_a_silence_end_and_a_reminder_are_not_sent_in_the_same_tick(core: OpsCore) -> None:
    await check(core, "lag", ok=False)  # carded at 12:00 (ALERT_REPEAT_INTERVAL_SEC 1h)
    await core.silences.create(
        kind="detector", value="lag", label=None, seconds=7200, incident_id=None, reason="deploy", actor=ADMIN
    )
    core.clock.advance(7201)  # the silence ran out
    await core.pipeline.tick()
    assert (await rows(core, -1001))[-2:] != ["unmuted", "reminder"]  # not both at once


async def test_an_until_resolved_silence_ends_with_its_alert_and_a_refire_is_not_silenced(core: OpsCore) -> None:
    [incident] = (await check(core, "lag", ok=False)).fired
    silence, muted = await core.silences.create(
        kind="fingerprint",
        value=(await core.incidents.get(incident)).fingerprint,
        label=None,
        seconds=None,
        incident_id=incident,
        reason="until resolved",
        actor=ADMIN,
    )
    assert muted == 1
    await check(core, "lag", ok=True)
    await core.pipeline.tick()
    report = await check(core, "lag", ok=False)  # within the dedup window: the same incident reopens
    assert report.reopened == [incident]
    await core.pipeline.tick()
    assert (await core.incidents.get(incident)).muted is None
    assert (await rows(core, -1001))[-1] == "unmuted"  # "the silence has ended and this alert still fires"
    assert await core.silences.expire(silence.id, ADMIN) is None  # it ended with the alert
