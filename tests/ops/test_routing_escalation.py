"""Routes (first match, continue, regex), inhibition by depends_on, escalation to the admin chats."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.config import ConfigError, parse_config
from ops.model import Actor, CheckResult, CheckStatus, Mute, MuteKind, Severity
from ops.runtime import OpsCore
from ops.storage.tables import alert_events, outbox

CONFIG = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
routes:
  - match: {severity: critical}
    chats: [-1001111]
    continue: true
  - match: {team: finance}
    chats: [-1002222]
  - match: {detector: "=~lag_.*"}
    chats: [-1003333]
escalation:
  critical: {after: 10m, repeat: 30m}
  error: {after: 1h}
detectors:
  - {name: cash, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {team: finance}}
  - {name: lag_feed, kind: db_size, target: t, alert_if: "> 1", severity: warning}
  - {name: other, kind: db_size, target: t, alert_if: "> 1", severity: error}
  - {name: db_down, kind: db_size, target: t, alert_if: "> 1", severity: critical}
  - {name: fresh, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [db_down]}
"""


@pytest.fixture
async def core(tmp_path: Path):
    clock = FakeClock()
    settings = make_settings(tmp_path / "ops.db", alert_chat_ids=[-1001], admin_chat_ids=[-1009])
    core = OpsCore.build(settings, parse_config(CONFIG, env={}), clock=clock)
    await core.migrate()
    yield core
    await core.close()


def res(detector: str, ok: bool, severity: Severity) -> CheckResult:
    return CheckResult(detector, "", CheckStatus.ok if ok else CheckStatus.fail, severity, f"{detector} message", 2.0)


async def rows(core: OpsCore) -> list[tuple[int, str, int | None]]:
    async with core.db.connect() as conn:
        return [
            tuple(r)
            for r in await conn.execute(
                select(outbox.c.chat_id, outbox.c.kind, outbox.c.incident_id).order_by(outbox.c.id)
            )
        ]


async def fire(core: OpsCore, name: str, ok: bool = False) -> list[int]:
    det = core.config.detector(name)
    return (await core.engine.process(det, [res(name, ok, det.severity)])).fired


async def test_routes_first_match_continue_regex_and_default(core: OpsCore) -> None:
    cash = (await fire(core, "cash"))[0]
    lag = (await fire(core, "lag_feed"))[0]
    other = (await fire(core, "other"))[0]
    assert await rows(core) == [
        (-1001111, "alert", cash),
        (-1002222, "alert", cash),  # critical, continue → finance
        (-1003333, "alert", lag),  # regex on the detector name
        (-1001, "alert", other),  # nothing matched: ALERT_CHAT_IDS
    ]
    assert core.scoping.is_alert_chat(-1002222) and not core.scoping.is_alert_chat(-4)


async def test_inhibited_while_the_parent_fires_then_notified(core: OpsCore) -> None:
    parent = (await fire(core, "db_down"))[0]
    child = (await fire(core, "fresh"))[0]
    assert [r for r in await rows(core) if r[2] == child] == []
    incident = await core.incidents.get(child)
    assert incident.muted == Mute(MuteKind.inhibited, "db_down")
    page = await core.history.alerts(chat_id=None)
    assert any(i.id == child and i.muted for i in page.incidents)
    assert (await core.pipeline.tick()).unmuted == []
    await fire(core, "db_down", ok=True)  # the database is back; fresh still fails
    assert [c.incident_id for c in (await core.pipeline.tick()).unmuted] == [child]
    assert [r for r in await rows(core) if r[2] == child and r[1] == "alert"] == [(-1001, "alert", child)]
    assert parent != child


async def test_escalation_after_then_repeat_until_acked(core: OpsCore) -> None:
    cash = (await fire(core, "cash"))[0]
    core.clock.advance(9 * 60)
    assert (await core.pipeline.tick()).escalated == []
    core.clock.advance(60)
    assert (await core.pipeline.tick()).escalated == [cash]
    assert (await rows(core))[-2:] == [(-1009, "alert", cash), (-1009, "escalated", cash)]
    assert (await core.pipeline.tick()).escalated == []  # not again before `repeat`
    core.clock.advance(30 * 60)
    assert (await core.pipeline.tick()).escalated == [cash]
    assert (await rows(core))[-1] == (-1009, "escalated", cash)  # the admins have the card already
    await core.incidents.acknowledge(cash, Actor(42, "@admin"), -1009)
    core.clock.advance(60 * 60)
    assert (await core.pipeline.tick()).escalated == []
    refresh = [r for r in await rows(core) if r[1] == "refresh"]
    assert sorted(r[0] for r in refresh) == [-1002222, -1001111, -1009]  # every copy is edited
    async with core.db.connect() as conn:
        assert len((await conn.execute(select(alert_events).where(alert_events.c.event == "escalated"))).all()) == 2


def test_route_and_depends_on_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            """
targets: {t: "sqlite+aiosqlite:///x.db"}
routes:
  - {match: {detector: "=~(("}, chats: [-1]}
  - {match: {team: x}, chats: []}
detectors:
  - {name: a, kind: db_size, target: t, alert_if: "> 1", depends_on: [nope]}
""",
            env={},
        )
    found = "\n".join(info.value.errors)
    assert "routes[0].match: detector: bad regex" in found and "routes[1].chats:" in found
    assert "detectors[0] (a).depends_on: unknown detector 'nope'" in found
