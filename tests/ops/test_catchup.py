"""The catch-up routes open alerts again with the current chat lists: each routed chat without the card gets
it once; muted alerts wait for their own release; a re-read of the settings changes only the chat lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import FakeClock, make_settings
from ops.config import parse_config
from ops.engine.catchup import no_alert_chat_warning
from ops.model import CheckResult, CheckStatus, Severity
from ops.reload import apply_chat_lists
from ops.runtime import OpsCore
from ops.storage.tables import alert_events, alerts_history, outbox

CONFIG = """
targets: {t: "sqlite+aiosqlite:///unused.db"}
routes:
  - match: {team: finance}
    chats: [-1002222]
detectors:
  - {name: cash, kind: db_size, target: t, alert_if: "> 1", severity: critical, labels: {team: finance}}
  - {name: other, kind: db_size, target: t, alert_if: "> 1", severity: error}
  - {name: db_down, kind: db_size, target: t, alert_if: "> 1", severity: critical}
  - {name: fresh, kind: db_size, target: t, alert_if: "> 1", severity: error, depends_on: [db_down]}
"""


@pytest.fixture
async def core(tmp_path: Path):
    settings = make_settings(tmp_path / "ops.db", alert_chat_ids=[], admin_chat_ids=[])
    core = OpsCore.build(settings, parse_config(CONFIG, env={}), clock=FakeClock())
    await core.migrate()
    yield core
    await core.close()


async def fire(core: OpsCore, name: str) -> int:
    det = core.config.detector(name)
    result = CheckResult(name, "", CheckStatus.fail, det.severity, f"{name} message", 2.0)
    return (await core.engine.process(det, [result])).fired[0]


async def cards(core: OpsCore) -> list[tuple[int, int]]:
    async with core.db.connect() as conn:
        query = select(outbox.c.chat_id, outbox.c.incident_id).where(outbox.c.kind == "alert").order_by(outbox.c.id)
        return [tuple(r) for r in await conn.execute(query)]


async def test_open_alerts_go_once_to_the_chats_configured_since_and_muted_ones_wait(core: OpsCore) -> None:
    assert no_alert_chat_warning(core.engine.router) == (
        "no ALERT_CHAT_IDS: alerts no route matches are kept and sent when a chat is configured"
    )
    cash, other, db_down = await fire(core, "cash"), await fire(core, "other"), await fire(core, "db_down")
    fresh = await fire(core, "fresh")  # inhibited by db_down
    assert await cards(core) == [(-1002222, cash)]
    assert (await core.catch_up()).cards == 0  # no chat for the others yet

    reread = apply_chat_lists(core.settings, core.settings.model_copy(update={"alert_chat_ids": [-1001]}), {})
    assert reread.changed == ["alert_chat_ids"] and reread.need_restart == []
    assert no_alert_chat_warning(core.engine.router) is None
    report = await core.catch_up()
    assert report.incidents == [other, db_down] and report.cards == 2
    assert await cards(core) == [(-1002222, cash), (-1001, other), (-1001, db_down)]
    assert fresh not in report.incidents  # the pipeline sends it when db_down resolves, not catch-up
    assert (await core.catch_up()).cards == 0  # a second start or reload: nothing twice

    async with core.db.connect() as conn:
        row = (await conn.execute(select(alerts_history).where(alerts_history.c.id == other))).one()
        events = (await conn.execute(select(alert_events.c.detail).where(alert_events.c.event == "caught_up"))).all()
    assert row.notification_count == 1 and row.last_notified_at is not None  # reminders count from now
    assert [e.detail for e in events] == ["sent to 1 chat(s) configured since it fired: -1001"] * 2


async def test_resolved_alerts_are_not_caught_up(core: OpsCore) -> None:
    other = await fire(core, "other")
    det = core.config.detector("other")
    await core.engine.process(det, [CheckResult("other", "", CheckStatus.ok, Severity.error, "fine", 0.0)])
    core.settings.alert_chat_ids = [-1001]
    assert (await core.catch_up()).cards == 0
    assert other and await cards(core) == []


@pytest.mark.no_ops_db
def test_a_reread_applies_the_chat_lists_and_names_what_needs_a_restart() -> None:
    current = make_settings(Path("x.db"), alert_chat_ids=[], bot_token="111:old-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    fresh = make_settings(
        Path("x.db"),
        alert_chat_ids=[-5],
        admin_user_ids=[7, 8],
        bot_token="222:new-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        http_port=9999,
    )
    reread = apply_chat_lists(current, fresh, environ={"PATH": "/bin"})
    assert current.alert_chat_ids == [-5] and current.admin_user_ids == [7, 8]
    assert current.bot_token.startswith("111:") and current.http_port == 8080
    summary = reread.summary()
    assert summary == (
        "settings re-read: ALERT_CHAT_IDS, ADMIN_USER_IDS; BOT_TOKEN, HTTP_PORT changed too (a restart applies them)"
    )
    assert "new-token" not in summary
    # systemd's EnvironmentFile or compose's env_file: the value is the process's, a reload cannot change it
    again = apply_chat_lists(current, fresh, environ={"alert_chat_ids": "-5"})
    assert again.summary() == (
        "settings re-read: no chat list changed; BOT_TOKEN, HTTP_PORT changed too (a restart applies them); "
        "ALERT_CHAT_IDS set in the process environment: a reload cannot change it, a restart can"
    )
