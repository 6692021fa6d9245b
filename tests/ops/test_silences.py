"""Silences and maintenance windows: muted alerts are recorded but send nothing; when the silence
ends while they still fire, one notification says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.model import Actor, CheckResult, CheckStatus, Mute, MuteKind
from ops.runtime import OpsCore
from ops.storage.tables import alert_events, outbox

CONFIG = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
maintenance:
  - {detectors: [backup], cron: "0 2 * * *", duration: 2h}
detectors:
  - {name: cash, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {team: finance}}
  - {name: lag, kind: db_size, target: t, alert_if: "> 1", severity: error}
  - {name: backup, kind: db_size, target: t, alert_if: "> 1", severity: error}
"""
ADMIN = Actor(42, "@admin")


@pytest.fixture
async def core(tmp_path: Path):
    clock = FakeClock()  # 12:00 UTC
    settings = make_settings(tmp_path / "ops.db", alert_chat_ids=[-1001], alert_repeat_interval_sec=600)
    core = OpsCore.build(settings, parse_config(CONFIG, env={}), clock=clock)
    await core.migrate()
    yield core
    await core.close()


async def check(core: OpsCore, name: str, ok: bool) -> list[int]:
    det = core.config.detector(name)
    result = CheckResult(name, "", CheckStatus.ok if ok else CheckStatus.fail, det.severity, f"{name} msg", 2.0)
    return (await core.engine.process(det, [result])).fired


async def rows(core: OpsCore) -> list[tuple]:
    async with core.db.connect() as conn:
        return [
            tuple(r)
            for r in await conn.execute(
                select(outbox.c.chat_id, outbox.c.kind, outbox.c.incident_id).order_by(outbox.c.id)
            )
        ]


async def test_a_detector_silence_mutes_then_one_notification_when_it_ends(core: OpsCore) -> None:
    silence, muted = await core.silences.create(
        kind="detector", value="lag", label=None, seconds=3600, incident_id=None, reason="deploy", actor=ADMIN
    )
    assert muted == 0
    [incident] = await check(core, "lag", ok=False)
    assert await rows(core) == []
    assert (await core.incidents.get(incident)).muted == Mute(MuteKind.silenced, str(silence.id))
    core.clock.advance(1200)
    tick = await core.pipeline.tick()
    assert tick.reminded == [] and tick.unmuted == []  # silenced: no reminders, still silenced
    core.clock.advance(3600)
    assert [c.incident_id for c in (await core.pipeline.tick()).unmuted] == [incident]
    assert await rows(core) == [(-1001, "alert", incident)]  # never sent before: now the card
    assert (await core.pipeline.tick()).unmuted == []  # once
    async with core.db.connect() as conn:
        events = (
            (await conn.execute(select(alert_events.c.event).where(alert_events.c.incident_id == incident)))
            .scalars()
            .all()
        )
    assert events == ["joined", "silenced", "unsilenced"]  # joined: its incident's timeline entry


async def test_silencing_a_notified_alert_by_label_then_unsilence_replies(core: OpsCore) -> None:
    [_incident] = await check(core, "cash", ok=False)
    silence, muted = await core.silences.create(
        kind="label", value="finance", label="team", seconds=3600, incident_id=None, reason="known", actor=ADMIN
    )
    assert muted == 1
    assert [k for _, k, _ in await rows(core)] == ["alert", "refresh"]  # the card shows it is silenced
    assert await core.silences.expire(silence.id, ADMIN) == 1  # back at once, told once
    assert await core.silences.expire(silence.id, ADMIN) is None
    assert (await core.pipeline.tick()).unmuted == []
    assert [k for _, k, _ in await rows(core)][-2:] == ["refresh", "unmuted"]


async def test_until_resolved_ends_with_the_incident(core: OpsCore) -> None:
    [incident] = await check(core, "cash", ok=False)
    inc = await core.incidents.get(incident)
    await core.silences.create(
        kind="fingerprint",
        value=inc.fingerprint,
        label=None,
        seconds=None,
        incident_id=incident,
        reason="until resolved",
        actor=ADMIN,
    )
    assert len(await core.silences.active()) == 1
    await check(core, "cash", ok=True)
    assert await core.silences.active() == []


async def test_maintenance_window_mutes_its_detectors_only_during_the_window(core: OpsCore) -> None:
    core.clock.now = core.clock.now.replace(hour=2, minute=30)
    [muted] = await check(core, "backup", ok=False)
    [loud] = await check(core, "lag", ok=False)
    assert [(c, k, i) for c, k, i in await rows(core)] == [(-1001, "alert", loud)]
    assert (await core.incidents.get(muted)).muted == Mute(MuteKind.maintenance, "0 2 * * *")
    core.clock.now = core.clock.now.replace(hour=4, minute=1)
    assert [c.incident_id for c in (await core.pipeline.tick()).unmuted] == [muted]
