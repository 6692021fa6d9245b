"""Incidents: alerts grouped as they fire (a route's `group_by` within `group_window`, a `depends_on` child
with its parent), each step on the incident's timeline with its time and actor, MTTA/MTTR, and the
postmortem draft — on a controllable clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings, make_sqlite
from ops.config import parse_config
from ops.incidents.read import group_of_alert, group_state, load_group
from ops.metrics import Metrics
from ops.model import Actor, CheckResult, CheckStatus, Severity
from ops.runtime import OpsCore
from ops.storage.tables import outbox

PY = sys.executable
ALICE = Actor(42, "@alice")
BOB = Actor(43, "@bob")

CONFIG = f"""
targets: {{t: "sqlite+aiosqlite:///unused.db"}}
remediations:
  - {{name: fix_ok, kind: shell, command: [{PY}, -c, "print('flushing caches'); print('caches flushed')"]}}
  - {{name: fix_bad, kind: shell, retries: 0,
      command: [{PY}, -c, "import sys; print('cannot reach the primary'); sys.exit(3)"]}}
routes:
  - {{match: {{team: shop}}, chats: [-1001], group_by: [region], group_window: 10m}}
  - {{match: {{team: hr}}, chats: [-1002], group_by: [region], group_window: 10m}}
escalation:
  critical: {{after: 20m}}
detectors:
  - {{name: eu_a, kind: db_size, target: t, alert_if: "> 1", severity: error, labels: {{team: shop, region: eu}}}}
  - {{name: eu_b, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {{team: shop, region: eu}}}}
  - {{name: eu_c, kind: db_size, target: t, alert_if: "> 1", severity: error, labels: {{team: shop, region: eu}}}}
  - {{name: eu_d, kind: db_size, target: t, alert_if: "> 1", severity: error, labels: {{team: shop, region: eu}}}}
  - {{name: us_a, kind: db_size, target: t, alert_if: "> 1", severity: error, labels: {{team: shop, region: us}}}}
  - {{name: solo, kind: db_size, target: t, alert_if: "> 1", severity: warning}}
  - {{name: db_down, kind: db_size, target: t, alert_if: "> 1", severity: critical}}
  - {{name: fresh, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [db_down]}}
  - {{name: stale, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [db_down]}}
  - {{name: hr_eu, kind: db_size, target: t, alert_if: "> 1", severity: error, labels: {{team: hr, region: eu}}}}
  - {{name: app_down, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [db_down]}}
  - {{name: checkout_slow, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [app_down]}}
  - {{name: cash, kind: db_size, target: t, alert_if: "> 1", severity: critical}}
slos:
  - {{name: cash_ok, objective: 99.0, window: 7d, sli: {{detector: cash}}}}
"""


@pytest.fixture
async def core(tmp_path: Path):
    clock = FakeClock()
    settings = make_settings(
        tmp_path / "ops.db",
        alert_chat_ids=[-1001, -1002],
        admin_chat_ids=[-1009],
        alert_dedup_window_sec=300,
        alert_repeat_interval_sec=600,
    )
    target = make_sqlite(tmp_path / "target.db", "CREATE TABLE t (v INTEGER);")  # more than 1 byte: it fails
    config = parse_config(CONFIG.replace("sqlite+aiosqlite:///unused.db", target), env={})
    core = OpsCore.build(settings, config, metrics=Metrics(), clock=clock)
    await core.migrate()
    core.remediation.backoff_base = 0.01
    yield core
    await core.close()


def res(core: OpsCore, name: str, ok: bool = False, key: str = "") -> CheckResult:
    detector = core.config.detector(name)
    assert detector is not None
    status = CheckStatus.ok if ok else CheckStatus.fail
    return CheckResult(name, key, status, detector.severity, f"{name}{key} is {'fine' if ok else 'broken'}", 2.0)


async def fire(core: OpsCore, name: str, ok: bool = False, keys: tuple[str, ...] = ("",)) -> list[int]:
    detector = core.config.detector(name)
    assert detector is not None
    report = await core.engine.process(detector, [res(core, name, ok, k) for k in keys])
    return [int(i) for i in report.fired]


async def group(core: OpsCore, alert_id: int) -> int:
    async with core.db.connect() as conn:
        found = await group_of_alert(conn, alert_id)
    assert found is not None
    return found


def advance(core: OpsCore, seconds: float) -> None:
    core.clock.advance(seconds)  # type: ignore[attr-defined]


async def test_group_by_joins_the_same_values_within_the_window_only(core: OpsCore) -> None:
    [a] = await fire(core, "eu_a")
    advance(core, 60)
    [b] = await fire(core, "eu_b")
    [u] = await fire(core, "us_a")
    eu = await group(core, a)
    assert await group(core, b) == eu  # same region, within the window
    assert await group(core, u) != eu  # another region: its own incident
    record = await core.incident_log.get(eu)
    assert record is not None
    assert [x.id for x in record.incident.alerts] == [a, b]
    assert record.incident.severity is Severity.critical  # the highest of its open alerts
    assert record.incident.title == "eu_a"
    assert [(e.kind, e.detail) for e in record.timeline if e.kind == "joined"] == [
        ("joined", "opened the incident"),
        ("joined", "grouped"),
    ]

    # Past the window a new incident opens, though the old one still fires.
    advance(core, 10 * 60)
    [c] = await fire(core, "eu_c")
    later = await group(core, c)
    assert later not in (eu, await group(core, u))
    assert (await core.incident_log.get(eu)).incident.is_open  # type: ignore[union-attr]

    # A resolved incident is not joined again, even within its window.
    await fire(core, "eu_c", ok=True)
    assert not (await core.incident_log.get(later)).incident.is_open  # type: ignore[union-attr]
    advance(core, 60)
    [d] = await fire(core, "eu_d")
    assert await group(core, d) not in (eu, later)


async def test_without_group_by_each_alert_is_its_own_incident(core: OpsCore) -> None:
    first, second = await fire(core, "solo", keys=("x", "y"))
    assert len({await group(core, first), await group(core, second)}) == 2
    titles = sorted(g.title for g in await core.incident_log.open())
    assert titles == ["solo · x", "solo · y"]


async def test_a_depends_on_child_joins_its_parents_incident(core: OpsCore) -> None:
    parent_det, child_det = core.config.detector("db_down"), core.config.detector("fresh")
    assert parent_det is not None and child_det is not None
    # Fired in one run, the child listed first: it still finds the parent's new incident.
    child_report, parent_report = await core.engine.process_many(
        [(child_det, [res(core, "fresh")]), (parent_det, [res(core, "db_down")])]
    )
    [child], [parent] = child_report.fired, parent_report.fired
    incident = await group(core, int(parent))
    assert await group(core, int(child)) == incident
    # And in a later run.
    advance(core, 30 * 60)  # long past any group window: the parent's firing is what counts
    [later] = await fire(core, "stale")
    assert await group(core, later) == incident
    record = await core.incident_log.get(incident)
    assert record is not None
    assert {e.alert_id: e.detail for e in record.timeline if e.kind == "joined"} == {
        int(parent): "opened the incident",
        int(child): "its parent db_down is firing",
        later: "its parent db_down is firing",
    }
    # Once the parent is resolved, a child no longer joins it.
    await fire(core, "db_down", ok=True)
    await fire(core, "stale", ok=True)
    advance(core, 600)
    [again] = await fire(core, "stale")
    assert await group(core, again) != incident


async def test_routes_never_share_an_incident(core: OpsCore) -> None:
    """Same `group_by` values, different routes (and chats): one chat must not read the other's alerts."""
    [shop] = await fire(core, "eu_a")
    [hr] = await fire(core, "hr_eu")
    assert await group(core, shop) != await group(core, hr)


async def test_a_depends_on_chain_fired_in_one_run_is_one_incident(core: OpsCore) -> None:
    names = ["checkout_slow", "app_down", "db_down"]  # grandchild first
    detectors = [core.config.detector(n) for n in names]
    reports = await core.engine.process_many([(d, [res(core, n)]) for d, n in zip(detectors, names, strict=True)])
    fired = [int(r.fired[0]) for r in reports]
    assert len({await group(core, a) for a in fired}) == 1


async def test_a_reopen_within_the_dedup_window_stays_in_its_incident(core: OpsCore) -> None:
    [alert] = await fire(core, "eu_a")
    incident = await group(core, alert)
    advance(core, 60)
    await fire(core, "eu_a", ok=True)
    assert not (await core.incident_log.get(incident)).incident.is_open  # type: ignore[union-attr]
    advance(core, 60)
    assert await fire(core, "eu_a") == []  # not a new alert: the old one again
    record = await core.incident_log.get(incident)
    assert record is not None and record.incident.is_open and [a.id for a in record.incident.alerts] == [alert]
    assert [e.kind for e in record.timeline] == ["joined", "fired", "resolved", "reopened"]
    assert [i.id for i in await core.incident_log.open()] == [incident]


async def mark_cards_sent(core: OpsCore, alert_id: int) -> list[int]:
    async with core.db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.id, outbox.c.chat_id).where(
                outbox.c.incident_id == alert_id, outbox.c.kind == "alert", outbox.c.status == "pending"
            )
        )
        found = [(r.id, r.chat_id) for r in rows]
    for row_id, _ in found:
        await core.outbox.mark_sent(row_id, core.clock(), [row_id + 100])
    return sorted(chat for _, chat in found)


async def test_a_reply_to_an_old_card_finds_its_incident_among_120_newer(core: OpsCore) -> None:
    """Card message ids as Telegram numbers them: 1, 2, …; many newer cards' ids contain the old one's
    digits (10, 11, 100–119, …). A reply to the first card, to a part of a split card and to card 12 each
    joins its own incident's timeline, whatever came after."""
    alerts = await fire(core, "solo", keys=tuple(f"k{n:03d}" for n in range(121)))
    assert len(alerts) == 121
    message_id = 0
    async with core.db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.id, outbox.c.incident_id).where(
                outbox.c.chat_id == -1001, outbox.c.kind == "alert", outbox.c.status == "pending"
            )
        )
        cards = {int(r.incident_id): int(r.id) for r in rows}
    first_ids: dict[int, int] = {}
    for alert_id in alerts:
        parts = 2 if alert_id == alerts[-1] else 1  # the newest card was split in two messages
        ids = list(range(message_id + 1, message_id + 1 + parts))
        message_id += parts
        first_ids[alert_id] = ids[0]
        await core.outbox.mark_sent(cards[alert_id], core.clock(), ids)
    by_message = {first_ids[a]: await group(core, a) for a in alerts}

    log = core.incident_log
    assert await log.said(-1001, None, 1, ALICE, "the first card, 120 cards ago") == by_message[1]
    assert await log.said(-1001, None, 12, ALICE, "card 12, not 112 nor 121") == by_message[12]
    assert await log.said(-1001, None, message_id, ALICE, "the second part") == by_message[message_id - 1]
    assert await log.said(-1002, None, 1, ALICE, "another chat's message 1") is None  # nothing sent there
    assert await log.said(-1001, None, message_id + 1, ALICE, "no card") is None
    record = await log.get(by_message[1])
    assert record is not None
    assert [e.detail for e in record.timeline if e.kind == "message"] == ["the first card, 120 cards ago"]


async def test_the_cheap_state_agrees_with_the_whole_incident(core: OpsCore) -> None:
    """`group_state` (one aggregate query, for the sender's topic upkeep) reads what loading every alert
    reads: the title, the status and the severity, firing, acknowledged and resolved."""

    async def agree(group_id: int) -> tuple[str, str, str]:
        async with core.db.connect() as conn:
            whole = await load_group(conn, group_id)
            cheap = await group_state(conn, group_id)
        assert whole is not None and cheap is not None
        assert (cheap.id, cheap.title, cheap.status, cheap.severity, cheap.is_open) == (
            whole.id,
            whole.title,
            whole.status,
            whole.severity,
            whole.is_open,
        )
        return cheap.title, cheap.status.value, cheap.severity.value

    [a] = await fire(core, "eu_a")  # error
    [b] = await fire(core, "eu_b")  # critical, same incident
    eu = await group(core, a)
    assert await agree(eu) == ("eu_a", "firing", "critical")
    await core.incidents.acknowledge(a, ALICE)
    assert await agree(eu) == ("eu_a", "acknowledged", "critical")
    await fire(core, "eu_b", ok=True)  # the critical one resolves: the open one's severity is the incident's
    assert await agree(eu) == ("eu_a", "acknowledged", "error")
    await fire(core, "eu_a", ok=True)  # all resolved: read from all of them, so it stays critical
    assert await agree(eu) == ("eu_a", "resolved", "critical")
    assert b != a
    async with core.db.connect() as conn:
        assert await group_state(conn, 999_999) is None


async def test_every_step_is_on_the_timeline_with_its_time_and_actor(core: OpsCore) -> None:
    start = core.clock()
    [alert] = await fire(core, "cash")
    incident = await group(core, alert)
    advance(core, 5)
    assert await mark_cards_sent(core, alert) == [-1002, -1001]
    advance(core, 600)
    assert (await core.pipeline.tick()).reminded == [alert]
    advance(core, 600)
    assert (await core.pipeline.tick()).escalated == [alert]
    advance(core, 60)
    silence, muted = await core.silences.create(
        kind="detector", value="cash", label=None, seconds=120, incident_id=None, reason="deploy", actor=BOB
    )
    assert muted == 1
    advance(core, 180)
    assert [c.incident_id for c in (await core.pipeline.tick()).unmuted] == [alert]
    advance(core, 60)
    assert (await core.incidents.acknowledge(alert, ALICE, -1001)).incident is not None
    advance(core, 60)
    fix_ok, fix_bad = core.config.remediation("fix_ok"), core.config.remediation("fix_bad")
    assert fix_ok is not None and fix_bad is not None
    current = await core.incidents.get(alert)
    assert (await core.remediation.request(fix_ok, current, "manual", ALICE)).status == "started"
    await core.remediation.wait_idle()
    advance(core, 60)
    assert (await core.remediation.request(fix_bad, current, "manual", BOB)).status == "started"
    await core.remediation.wait_idle()
    advance(core, 60)
    await fire(core, "cash", ok=True)
    advance(core, 60)
    assert await fire(core, "cash") == []  # within the dedup window: reopened
    advance(core, 60)
    assert await core.incident_log.note(incident, ALICE, "  the primary ran out of disk  ")
    assert not await core.incident_log.note(999_999, ALICE, "nowhere")

    record = await core.incident_log.get(incident)
    assert record is not None
    steps = [((e.at - start).total_seconds(), e.kind, e.actor) for e in record.timeline]
    assert steps == [
        (0, "joined", None),
        (0, "fired", None),
        (5, "notified", None),
        (5, "notified", None),
        (605, "reminded", None),
        (1205, "reminded", None),
        (1205, "escalated", None),
        (1265, "silenced", None),
        (1445, "unsilenced", None),
        (1505, "acknowledged", "@alice"),
        (1565, "remediation_started", "@alice"),
        (1565, "remediation_succeeded", None),
        (1565, "rechecked", None),  # the check run again after the fix: the database is still too big
        (1625, "remediation_started", "@bob"),
        (1625, "remediation_failed", None),
        (1685, "resolved", None),
        (1745, "reopened", None),
        (1805, "note", "@alice"),
    ]
    by_kind = {e.kind: e for e in record.timeline}
    assert {e.chat_id for e in record.timeline if e.kind == "notified"} == {-1001, -1002}
    assert by_kind["silenced"].detail == str(silence.id)
    assert by_kind["acknowledged"].chat_id == -1001
    assert by_kind["remediation_succeeded"].detail.endswith("flushing caches\ncaches flushed")
    assert by_kind["remediation_failed"].detail.endswith("cannot reach the primary")
    assert by_kind["rechecked"].detail.startswith("after fix_ok: still failing: ")
    assert by_kind["escalated"].detail.startswith("step 2: admins → 1 admin chat(s) after 20m 5s")
    assert by_kind["note"].detail == "the primary ran out of disk"
    assert by_kind["note"].alert_id is None and by_kind["fired"].alert_id == alert
    assert all(e.detector == "cash" for e in record.timeline if e.alert_id is not None)
    assert [e.by_person for e in record.timeline].count(True) == 1


async def test_response_times_per_detector_and_overall(core: OpsCore) -> None:
    start = core.clock()
    [a] = await fire(core, "eu_a")  # opens the eu incident at 0
    advance(core, 60)
    [b] = await fire(core, "eu_b")  # joins it at 60
    advance(core, 60)
    [s] = await fire(core, "solo")  # its own incident at 120
    advance(core, 180)
    await core.incidents.acknowledge(b, ALICE)  # 300: b after 240 s, the eu incident after 300 s
    advance(core, 100)
    await core.incidents.acknowledge(s, BOB)  # 400: solo after 280 s
    await core.incidents.unacknowledge(s, BOB)  # an unack does not undo the response
    await core.incidents.acknowledge(s, BOB)
    advance(core, 200)
    await fire(core, "eu_a", ok=True)  # 600: a after 600 s; the incident still has b open
    advance(core, 300)
    await fire(core, "eu_b", ok=True)  # 900: b after 840 s; the eu incident after 900 s
    times = await core.incident_log.response_times(start, start + timedelta(hours=1))
    assert {name: t.as_dict() for name, t in times.detectors.items()} == {
        "eu_a": {"count": 1, "acknowledged": 0, "resolved": 1, "mtta_seconds": None, "mttr_seconds": 600.0},
        "eu_b": {"count": 1, "acknowledged": 1, "resolved": 1, "mtta_seconds": 240.0, "mttr_seconds": 840.0},
        "solo": {"count": 1, "acknowledged": 1, "resolved": 0, "mtta_seconds": 280.0, "mttr_seconds": None},
    }
    assert times.overall.as_dict() == {
        "count": 2,
        "acknowledged": 2,
        "resolved": 1,
        "mtta_seconds": (300.0 + 280.0) / 2,
        "mttr_seconds": 900.0,
    }
    assert a != b
    # Only what started within the span counts.
    later = await core.incident_log.response_times(start + timedelta(seconds=90), start + timedelta(hours=1))
    assert sorted(later.detectors) == ["solo"] and later.overall.count == 1


async def test_the_postmortem_draft(core: OpsCore) -> None:
    start = core.clock()
    for _ in range(3):  # three good checks of cash before it fails
        await fire(core, "cash", ok=True)
        advance(core, 60)
    [alert] = await fire(core, "cash")
    incident = await group(core, alert)
    advance(core, 5)
    await mark_cards_sent(core, alert)
    for _ in range(2):  # two more failing checks while it is open
        advance(core, 50)
        await fire(core, "cash")
    advance(core, 15)
    await core.incidents.acknowledge(alert, ALICE, -1001)  # 2 min after it started
    await core.incident_log.note(incident, ALICE, "disk | full on db-1")
    advance(core, 480)
    await fire(core, "cash", ok=True)  # resolved 10 min after it started
    draft = await core.postmortems.draft(incident)
    assert draft is not None
    opened = start + timedelta(minutes=3)
    lines = draft.splitlines()
    assert lines[0] == f"# Postmortem: incident #{incident} — cash"
    for line in (
        "- **Severity:** critical",
        "- **Status:** resolved",
        f"- **Started:** {opened:%Y-%m-%d %H:%M:%S} UTC",
        f"- **Detected (first notification):** {opened + timedelta(seconds=5):%Y-%m-%d %H:%M:%S} UTC (+5s)",
        f"- **Acknowledged:** {opened + timedelta(minutes=2):%Y-%m-%d %H:%M:%S} UTC (+2m)",
        f"- **Resolved:** {opened + timedelta(minutes=10):%Y-%m-%d %H:%M:%S} UTC (+10m)",
        "- **Time to acknowledge:** 2m",
        "- **Time to resolve:** 10m",
        "| # | Detector | Key | Severity | Fired | Resolved | Last message |",
        f"| {alert} | cash | — | critical | {opened:%Y-%m-%d %H:%M:%S} UTC "
        f"| {opened + timedelta(minutes=10):%Y-%m-%d %H:%M:%S} UTC | cash is broken |",
        # Three bad checks while it was open (the one that fired it and two more; the passing one that
        # resolved it is the end of the span); the 7-day window up to then holds six checks, so its 1%
        # budget is 0.06 bad events: 3 / 0.06.
        f"- **cash_ok** (objective 99%): 3 bad of 3 events while open — {3 / 0.06:.1%} of the error budget",
        f"- {opened + timedelta(minutes=2):%H:%M:%S} **note** — @alice: disk \\| full on db-1",
    ):
        assert line in lines, line
    sections = [line for line in lines if line.startswith("## ")]
    assert sections == [
        "## Summary",
        "## Alerts involved",
        "## Impact",
        "## Remediation attempts",
        "## Notes from people",
        "## Timeline (UTC)",
        "## Root cause",
        "## What went well",
        "## What went wrong",
        "## Action items",
    ]
    # The timeline section lists every entry; the sections for people are empty.
    timeline = draft.split("## Timeline (UTC)")[1].split("---")[0]
    record = await core.incident_log.get(incident)
    assert record is not None
    assert timeline.count("\n- ") == len(record.timeline)
    # Resolved, it still says who acknowledged it and when (the list and the API show it).
    acked = opened + timedelta(minutes=2)
    assert (record.incident.acknowledged_by, record.incident.acknowledged_at) == ("@alice", acked)
    for kind in ("joined", "fired", "notified", "acknowledged", "note", "resolved"):
        assert f"**{kind}**" in timeline
    for empty in ("## Root cause", "## What went well", "## What went wrong"):
        assert draft.split(empty)[1].split("##")[0].strip() == ""
    assert await core.postmortems.draft(999_999) is None
