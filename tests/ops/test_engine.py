"""Alert engine transitions with a controllable clock, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.metrics import Metrics
from ops.model import Actor, CheckResult, CheckStatus, Severity
from ops.runtime import OpsCore
from ops.storage.tables import alert_events, alerts_history, outbox

CONFIG = """
targets: {}
detectors: []
"""


def detector_config(for_: int = 1, severity: str = "critical"):
    cfg = parse_config(
        f"""
targets: {{t: "sqlite+aiosqlite:///unused.db"}}
detectors:
  - {{name: cash_balance, kind: sql, target: t, query: "select 1", alert_if: "< 0", for: {for_}, severity: {severity}}}
"""
    )
    return cfg, cfg.detectors[0]


def result(ok: bool, key: str = "", severity: Severity = Severity.critical, value: float = -5) -> CheckResult:
    return CheckResult(
        detector="cash_balance",
        key=key,
        status=CheckStatus.ok if ok else CheckStatus.fail,
        severity=severity,
        message=f"cash_balance = {value}",
        value=value,
        threshold="< 0",
    )


@pytest.fixture
async def core(tmp_path: Path):
    """The engine on a SQLite file, and on a PostgreSQL database of its own (with TEST_POSTGRES_URL)."""
    clock = FakeClock()
    cfg, _ = detector_config()
    settings = make_settings(tmp_path / "ops.db", alert_dedup_window_sec=300, alert_repeat_interval_sec=3600)
    core = OpsCore.build(settings, cfg, metrics=Metrics(), clock=clock)
    await core.migrate()
    yield core
    await core.close()


async def outbox_rows(core: OpsCore) -> list[tuple[int, str, int | None]]:
    async with core.db.connect() as conn:
        rows = await conn.execute(select(outbox.c.chat_id, outbox.c.kind, outbox.c.incident_id).order_by(outbox.c.id))
        return [tuple(r) for r in rows]


async def count(core: OpsCore, table, **where) -> int:
    q = select(func.count()).select_from(table)
    for k, v in where.items():
        q = q.where(table.c[k] == v)
    async with core.db.connect() as conn:
        return int(await conn.scalar(q) or 0)


async def test_fires_after_for_failures_and_notifies_every_alert_chat(core: OpsCore) -> None:
    _, det = detector_config(for_=2)
    r1 = await core.engine.process(det, [result(False)])
    assert r1.fired == []
    assert await outbox_rows(core) == []
    r2 = await core.engine.process(det, [result(False)])
    assert len(r2.fired) == 1
    assert await outbox_rows(core) == [(-1001, "alert", r2.fired[0]), (-1002, "alert", r2.fired[0])]
    assert core.metrics.alerts_total.labels("cash_balance", "critical")._value.get() == 1


async def test_a_pass_in_between_resets_the_for_count(core: OpsCore) -> None:
    _, det = detector_config(for_=2)
    await core.engine.process(det, [result(False)])
    await core.engine.process(det, [result(True)])
    report = await core.engine.process(det, [result(False)])
    assert report.fired == []


async def test_repeated_failures_are_deduplicated_not_renotified(core: OpsCore) -> None:
    _, det = detector_config()
    first = await core.engine.process(det, [result(False)])
    for _ in range(3):
        core.clock.advance(60)
        again = await core.engine.process(det, [result(False)])
        assert again.fired == [] and again.deduplicated == 1
    assert len(await outbox_rows(core)) == 2
    assert core.metrics.alerts_deduplicated_total.labels("cash_balance")._value.get() == 3
    assert first.fired


async def test_severity_below_minimum_never_fires(core: OpsCore) -> None:
    _, det = detector_config(severity="info")
    report = await core.engine.process(det, [result(False, severity=Severity.info)])
    assert report.fired == [] and await outbox_rows(core) == []


async def test_rise_in_severity_notifies_at_once(core: OpsCore) -> None:
    _, det = detector_config()
    fired = (await core.engine.process(det, [result(False, severity=Severity.warning)])).fired[0]
    core.clock.advance(10)
    report = await core.engine.process(det, [result(False, severity=Severity.critical)])
    assert report.raised == [fired]
    kinds = [k for _, k, _ in await outbox_rows(core)]
    assert kinds.count("raised") == 2
    incident = await core.incidents.get(fired)
    assert incident is not None and incident.severity is Severity.critical


async def test_pass_resolves_and_notifies_the_chats_that_got_the_alert(core: OpsCore) -> None:
    _, det = detector_config()
    fired = (await core.engine.process(det, [result(False)])).fired[0]
    core.clock.advance(720)
    report = await core.engine.process(det, [result(True)])
    assert report.resolved == [fired]
    assert [(c, k) for c, k, _ in await outbox_rows(core)][-2:] == [(-1001, "resolved"), (-1002, "resolved")]
    incident = await core.incidents.get(fired)
    assert incident is not None and incident.status.value == "resolved"
    assert (incident.resolved_at - incident.opened_at).total_seconds() == 720


async def test_flapping_within_dedup_window_reopens_without_a_new_page(core: OpsCore) -> None:
    _, det = detector_config()
    fired = (await core.engine.process(det, [result(False)])).fired[0]
    core.clock.advance(60)
    await core.engine.process(det, [result(True)])
    core.clock.advance(60)
    report = await core.engine.process(det, [result(False)])
    assert report.fired == [] and report.reopened == [fired]
    kinds = [k for _, k, _ in await outbox_rows(core)]
    assert kinds.count("alert") == 2  # the original pair only
    assert await count(core, alerts_history) == 1
    # Outside the window a new incident pages again.
    await core.engine.process(det, [result(True)])
    core.clock.advance(301)
    report = await core.engine.process(det, [result(False)])
    assert len(report.fired) == 1 and report.fired[0] != fired


async def test_reminder_after_repeat_interval_unless_acknowledged(core: OpsCore) -> None:
    _, det = detector_config()
    fired = (await core.engine.process(det, [result(False)])).fired[0]
    core.clock.advance(3599)
    assert (await core.pipeline.tick()).reminded == []
    core.clock.advance(1)
    assert (await core.pipeline.tick()).reminded == [fired]
    assert (await core.pipeline.tick()).reminded == []  # not again until another interval
    await core.incidents.acknowledge(fired, Actor(7, "@alice"), -1001)
    core.clock.advance(7200)
    assert (await core.pipeline.tick()).reminded == []
    assert await count(core, alert_events, event="reminded") == 1


async def test_ack_enqueues_an_edit_for_every_chat_and_is_idempotent(core: OpsCore) -> None:
    _, det = detector_config()
    fired = (await core.engine.process(det, [result(False)])).fired[0]
    first = await core.incidents.acknowledge(fired, Actor(7, "@alice"), -1001)
    second = await core.incidents.acknowledge(fired, Actor(8, "@bob"), -1002)
    assert first.outcome.value == "done" and second.outcome.value == "already"
    assert [(c, k) for c, k, _ in await outbox_rows(core)][-2:] == [(-1001, "refresh"), (-1002, "refresh")]
    incident = await core.incidents.get(fired)
    assert incident is not None and incident.acknowledged_by == "@alice"


async def test_keys_alert_on_their_own_and_a_vanished_key_resolves(core: OpsCore) -> None:
    _, det = detector_config()
    report = await core.engine.process(det, [result(False, key="wb"), result(True, key="ozon")])
    assert len(report.fired) == 1
    report = await core.engine.process(det, [result(False, key="wb"), result(False, key="ozon")])
    assert len(report.fired) == 1  # ozon now, wb deduplicated
    report = await core.engine.process(det, [result(True, key="ozon")])
    assert len(report.resolved) == 2  # ozon passed, wb no longer reported


async def test_detector_error_keeps_keyed_incidents_open(core: OpsCore) -> None:
    _, det = detector_config()
    await core.engine.process(det, [result(False, key="wb")])
    err = CheckResult("cash_balance", "", CheckStatus.error, Severity.error, "cash_balance: timed out", error="x")
    report = await core.engine.process(det, [err])
    assert report.resolved == []


async def test_restart_with_the_same_database_repeats_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    cfg, det = detector_config(for_=2)
    settings = make_settings(tmp_path / "ops.db")
    first = OpsCore.build(settings, cfg, clock=clock)
    await first.migrate()
    await first.engine.process(det, [result(False)])
    await first.close()
    # A new process: the failure count survived, so the second failure fires exactly once.
    second = OpsCore.build(settings, cfg, clock=clock)
    await second.migrate()
    assert len((await second.engine.process(det, [result(False)])).fired) == 1
    await second.close()
    third = OpsCore.build(settings, cfg, clock=clock)
    await third.migrate()
    assert (await third.engine.process(det, [result(False)])).fired == []
    assert len(await outbox_rows(third)) == 2
    await third.close()
