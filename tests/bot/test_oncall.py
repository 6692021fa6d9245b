"""On call through the emulator, with a controllable clock: the rotation hands off at 09:00 Berlin time
across the spring DST change, each handoff is announced once (a restart repeats none and announces one
that happened while down), /oncall shows who and until when, `take` wins and expires, a swap is accepted
or declined with buttons in private, and members who cannot be paged are reported to the admins."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from harness import ADMIN, ADMIN_CHAT, ALERT_CHATS, SHOP, Harness, config_text, start_harness

from bot.emulator import BotApiEmulator
from helpers import FakeClock, make_sqlite

BOB, ALICE, CAROL = ADMIN, 1001, 7  # carol never starts the bot
# Shifts from 2024-01-01: Monday 2026-03-16 is shift 115 (members[1]), the 23rd 116, the 30th 117.
ONCALL = f"""
oncall:
  - name: primary
    members: [{CAROL}, {ALICE}, {BOB}]
    rotation: 1w
    handoff: "mon 09:00"
    tz: Europe/Berlin
"""
HANDOFF = "🔁 On call now:"


def lines(h: Harness, chat_id: int, start: str) -> list[str]:
    return [m.text for m in h.emulator.bot_messages(chat_id) if m.text.startswith(start)]


async def start(tmp_path: Path, emulator: BotApiEmulator, clock: FakeClock) -> Harness:
    shop = tmp_path / "shop.db"
    if not shop.exists():
        make_sqlite(shop, SHOP)
    runbook = tmp_path / "rb.md"
    runbook.write_text("# rb\n", encoding="utf-8")
    return await start_harness(tmp_path, emulator, config_text(f"sqlite:///{shop}", runbook) + ONCALL, shop, clock)


async def meet(h: Harness) -> None:
    """Bob and Alice send /start in private; Carol never does."""
    await h.command(BOB, "/start", user_id=BOB, username="bob")
    answer = await h.command(ALICE, "/start", user_id=ALICE, username="alice")
    assert "page you here" in answer.text


async def tick(h: Harness) -> None:
    await h.app.core.housekeeping()
    await h.delivered()


async def test_handoffs_at_nine_berlin_across_dst_once_each_and_after_downtime(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    clock = FakeClock(datetime(2026, 3, 23, 7, 0))  # Monday, 08:00 CET: Alice's shift until 09:00
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        h.set_balance("wb", -20000)
        await h.sweep()
        await h.wait_cards(ALERT_CHATS[0], 1)
        await tick(h)  # first start: the running shift is recorded, not announced; Carol is reported
        assert lines(h, ALERT_CHATS[0], HANDOFF) == []
        [report] = lines(h, ADMIN_CHAT, "⚠️")
        assert f"user {CAROL} (primary) cannot be paged (never started me): ask them to /start me" in report
        clock.now = datetime(2026, 3, 23, 7, 59, 59)
        await tick(h)
        assert lines(h, ALERT_CHATS[0], HANDOFF) == []
        clock.now = datetime(2026, 3, 23, 8, 0)  # 09:00 CET
        await tick(h)
        await tick(h)
        for chat in ALERT_CHATS:
            assert lines(h, chat, HANDOFF) == ["🔁 On call now: @bob (primary) — 1 open incident"]
        [summary] = lines(h, BOB, "📟 You are on call")
        assert "until Mon 30 Mar 07:00 UTC (09:00 CEST, Europe/Berlin)" in summary
        assert "Open now: 1" in summary and "cash_balance" in summary
        assert len(lines(h, ADMIN_CHAT, "⚠️")) == 2  # and again at the handoff
    finally:
        await h.app.stop()

    clock.now = datetime(2026, 3, 30, 6, 59)  # a restart: nothing repeated
    h = await start(tmp_path, emulator, clock)
    try:
        await tick(h)
        assert len(lines(h, ALERT_CHATS[0], HANDOFF)) == 1 and len(lines(h, BOB, "📟 You are on call")) == 1
        assert len(lines(h, ADMIN_CHAT, "⚠️")) == 3  # this start's report
        await tick(h)
        assert len(lines(h, ADMIN_CHAT, "⚠️")) == 3  # once per start
        clock.now = datetime(2026, 3, 30, 7, 0)  # 09:00 CEST: summer time, an hour earlier in UTC
        await tick(h)
        assert lines(h, ALERT_CHATS[1], HANDOFF)[-1] == f"🔁 On call now: user {CAROL} (primary) — 1 open incident"
        assert len(lines(h, ADMIN_CHAT, "⚠️")) == 4  # Carol, on call, cannot be paged
    finally:
        await h.app.stop()

    clock.now = datetime(2026, 4, 6, 9, 30)  # Alice's shift began at 07:00 UTC while nothing ran
    h = await start(tmp_path, emulator, clock)
    try:
        await tick(h)
        await tick(h)
        assert lines(h, ALERT_CHATS[0], HANDOFF)[1:] == [
            f"🔁 On call now: user {CAROL} (primary) — 1 open incident",
            "🔁 On call now: @alice (primary) — 1 open incident",
        ]
        assert len(lines(h, ALICE, "📟 You are on call")) == 1
        assert len(lines(h, ADMIN_CHAT, "⚠️")) == 5  # the handoff's report stands for this start's too
    finally:
        await h.app.stop()


async def test_oncall_shows_who_until_when_and_next_take_wins_and_expires(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    clock = FakeClock(datetime(2026, 3, 25, 12, 0))  # Wednesday: Bob's week
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await tick(h)
        shown = await h.command(ALERT_CHATS[0], "/oncall")
        assert "primary: @bob until Mon 30 Mar 07:00 UTC (09:00 CEST, Europe/Berlin)" in shown.text
        assert f"Next: user {CAROL} from Mon 30 Mar 07:00 UTC" in shown.text
        assert f"Cannot be paged yet: user {CAROL}" in shown.text

        refused = await h.command(ALERT_CHATS[0], "/oncall take", user_id=555, username="mallory")
        assert refused.text == "Only members of primary can take its shift."
        bad = await h.command(ALERT_CHATS[0], "/oncall take 45d", user_id=ALICE)
        assert bad.text.startswith("The duration must be 1m to 30d.")

        taken = await h.command(ALICE, "/oncall take 2h", user_id=ALICE, username="alice")
        assert taken.text == "📟 @alice is on call for primary until Wed 25 Mar 14:00 UTC (15:00 CET, Europe/Berlin)."
        await h.delivered()
        assert lines(h, ALERT_CHATS[0], HANDOFF) == [
            "🔁 On call now: @alice (primary) — no open incidents · until Wed 25 Mar 14:00 UTC (15:00 CET, Europe/Berlin)"
        ]
        assert lines(h, ALICE, "📟 You are on call")[-1].endswith("Nothing is open. /oncall shows the rotation.")
        shown = await h.command(ALICE, "/oncall", user_id=ALICE, username="alice")  # a member, in private
        assert "primary: @alice until Wed 25 Mar 14:00 UTC" in shown.text
        assert "took the shift (rotation: @bob)" in shown.text and "Next: @bob from Wed 25 Mar 14:00 UTC" in shown.text

        clock.now = datetime(2026, 3, 25, 14, 0)  # the take expires: back to the rotation
        await tick(h)
        assert lines(h, ALERT_CHATS[0], HANDOFF)[-1] == "🔁 On call now: @bob (primary) — no open incidents"
        shown = await h.command(ALERT_CHATS[0], "/oncall")
        assert "primary: @bob until Mon 30 Mar" in shown.text and "took the shift" not in shown.text
        await tick(h)
        assert len(lines(h, ALERT_CHATS[0], HANDOFF)) == 2
    finally:
        await h.app.stop()


async def test_swap_is_declined_or_accepted_by_its_target_only(tmp_path: Path, emulator: BotApiEmulator) -> None:
    clock = FakeClock(datetime(2026, 3, 25, 12, 0))  # Bob's week
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await h.command(555, "/start", user_id=555, username="mallory")  # started me, but no member
        await tick(h)
        usage = await h.command(ALERT_CHATS[0], "/oncall frobnicate", user_id=BOB, username="bob")
        assert usage.text.startswith("Usage: /oncall")
        unknown = await h.command(ALERT_CHATS[0], "/oncall swap @carol", user_id=BOB, username="bob")
        assert unknown.text.startswith("I don't know @carol: only a member who started me in private")
        outsider = await h.command(ALERT_CHATS[0], "/oncall swap @mallory", user_id=BOB, username="bob")
        assert "@mallory is not a member of primary" in outsider.text

        offered = await h.command(ALERT_CHATS[0], "/oncall swap @alice 3h", user_id=BOB, username="bob")
        assert offered.text.startswith("🔁 Offered primary to @alice until Wed 25 Mar 15:00 UTC")
        await h.emulator.wait_for(lambda: lines(h, ALICE, "🔁 @bob offers you"))
        offer = next(m for m in h.emulator.bot_messages(ALICE) if m.text.startswith("🔁 @bob offers you"))
        accept = offer.button("Accept")["callback_data"]
        assert len(accept.encode()) <= 64
        shown = await h.command(ALERT_CHATS[0], "/oncall")
        assert "Offered to @alice (awaiting an answer)" in shown.text and "primary: @bob" in shown.text

        answer = await h.press(offer, "Decline", user_id=BOB, username="bob")
        assert answer["text"] == "This offer is not yours, or no longer open."
        await h.press(offer, "Decline", user_id=ALICE, username="alice")
        await h.emulator.wait_for(lambda: lines(h, BOB, "✖ @alice declined"))
        assert h.emulator.messages[(ALICE, offer.message_id)].text.startswith("✖ Declined")
        assert h.emulator.messages[(ALICE, offer.message_id)].buttons == []
        late = h.emulator.press(ALICE, offer.message_id, accept, user_id=ALICE)  # an old Accept: answered already
        await h.emulator.wait_for(lambda: late in h.emulator.callback_answers)
        assert h.emulator.callback_answers[late]["text"] == "This offer is not yours, or no longer open."
        assert "primary: @bob" in (await h.command(ALERT_CHATS[0], "/oncall")).text

        await h.command(ALERT_CHATS[0], "/oncall swap @alice", user_id=BOB, username="bob")
        await h.emulator.wait_for(lambda: lines(h, ALICE, "🔁 @bob offers you"))  # the first one reads Declined
        offer = next(m for m in h.emulator.bot_messages(ALICE) if m.text.startswith("🔁 @bob offers you"))
        await h.press(offer, "Accept", user_id=ALICE, username="alice")
        await h.emulator.wait_for(lambda: lines(h, BOB, "✅ @alice accepted"))
        await h.delivered()
        for chat in ALERT_CHATS:
            assert lines(h, chat, HANDOFF) == [
                "🔁 On call now: @alice (primary) — no open incidents"
                " · until Mon 30 Mar 07:00 UTC (09:00 CEST, Europe/Berlin)"
            ]
        shown = await h.command(ALERT_CHATS[0], "/oncall")
        assert "primary: @alice until Mon 30 Mar 07:00 UTC" in shown.text and "swapped in" in shown.text
    finally:
        await h.app.stop()


async def test_a_member_who_blocked_the_bot_is_marked_and_reported(tmp_path: Path, emulator: BotApiEmulator) -> None:
    clock = FakeClock(datetime(2026, 3, 25, 12, 0))
    h = await start(tmp_path, emulator, clock)
    try:
        await meet(h)
        await tick(h)
        emulator.block(ALICE)
        await h.command(ALERT_CHATS[0], "/oncall take 1h", user_id=ALICE, username="alice")
        await h.delivered()  # the private summary is refused: Alice blocked the bot
        shown = await h.command(ALERT_CHATS[0], "/oncall")
        assert f"Cannot be paged yet: user {CAROL}, @alice" in shown.text
        clock.now = datetime(2026, 3, 25, 13, 0)
        await tick(h)  # back to Bob: the admins hear about both
        assert "⚠️ @alice (primary) cannot be paged (blocked me)" in lines(h, ADMIN_CHAT, "⚠️")[-1]
    finally:
        await h.app.stop()


async def test_oncall_without_schedules_names_the_config_section(harness: Harness) -> None:
    answer = await harness.command(ALERT_CHATS[0], "/oncall")
    assert answer.text.startswith("No on-call schedules: add them under oncall: in the config file")
