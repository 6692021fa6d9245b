"""/oncall: who is on call; `take` the shift now; `swap` it to another member, who answers with buttons in
private. A take or an accepted swap is announced at once (the alert chats' line, the private summary),
as a handoff is (`ops.oncall.handoffs`)."""

from __future__ import annotations

import contextlib
import logging
from html import escape

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.access import Access
from bot.callbacks import OnCallCb, SwapAnswer
from bot.handlers.replies import answer_long, args_of
from bot.render.oncall import (
    NAME_UNITS,
    NO_SCHEDULES,
    ONCALL_USAGE,
    at,
    oncall_text,
    person,
    swap_offer_text,
)
from ops.config.current import CurrentConfig
from ops.config.models import OnCallSchedule
from ops.model import Actor
from ops.oncall.handoffs import Handoffs
from ops.oncall.service import OnCall
from ops.timeutil import parse_duration

log = logging.getLogger(__name__)

MIN_OVERRIDE, MAX_OVERRIDE = 60.0, 30 * 86400.0  # seconds


async def oncall_command(
    message: Message, bot: Bot, oncall: OnCall, handoffs: Handoffs, current: CurrentConfig, access: Access, actor: Actor
) -> None:
    args = args_of(message)
    if not args:
        await show(message, oncall, current)
    elif args[0].lower() == "take":
        await take(message, args[1:], oncall, handoffs, current, actor)
    elif args[0].lower() == "swap":
        await swap(message, bot, args[1:], oncall, current, access, actor)
    else:
        await message.answer(ONCALL_USAGE)


async def show(message: Message, oncall: OnCall, current: CurrentConfig) -> None:
    states = await oncall.now()
    if not states:
        await message.answer(NO_SCHEDULES)
        return
    overrides = await oncall.overrides()
    members = sorted({m for s in current.config.oncall for m in s.members} | {o.user_id for o in overrides})
    names = await oncall.names(members)
    pageable = await oncall.pageable(members)
    tzs = {s.name: s.tz for s in current.config.oncall}
    configured = {m for s in current.config.oncall for m in s.members}
    await answer_long(message, oncall_text(states, tzs, overrides, names, configured - pageable))


def _options(args: list[str]) -> tuple[list[str], float | None] | None:
    """`[schedule] [duration]` in any order: the words that are no duration, and the duration (None: the
    rest of the shift). None: a duration out of bounds."""
    words, duration = [], None
    for arg in args:
        try:
            seconds = parse_duration(arg)
        except ValueError:
            words.append(arg)
            continue
        if duration is not None or not MIN_OVERRIDE <= seconds <= MAX_OVERRIDE:
            return None
        duration = seconds
    return words, duration


def _schedule(current: CurrentConfig, words: list[str], *people: int) -> tuple[OnCallSchedule | None, str | None]:
    """The schedule named, or the only one, or the only one all of `people` are members of; else why not."""
    schedules = current.config.oncall
    if not schedules:
        return None, NO_SCHEDULES
    if len(words) > 1:
        return None, ONCALL_USAGE
    if words:
        found = current.config.schedule(words[0])
        if found is None:
            known = ", ".join(escape(s.name) for s in schedules)
            return None, f"No schedule {escape(words[0][:NAME_UNITS])}: there are {known}."
        return found, None
    if len(schedules) == 1:
        return schedules[0], None
    theirs = [s for s in schedules if all(p in s.members for p in people)]
    if len(theirs) == 1:
        return theirs[0], None
    names = ", ".join(escape(s.name) for s in (theirs or schedules))
    return None, f"Which schedule? Name one of {names}. {ONCALL_USAGE}"


async def take(
    message: Message, args: list[str], oncall: OnCall, handoffs: Handoffs, current: CurrentConfig, actor: Actor
) -> None:
    options = _options(args)
    if options is None or actor.id is None:
        await message.answer(f"The duration must be 1m to 30d. {ONCALL_USAGE}")
        return
    words, duration = options
    schedule, why = _schedule(current, words, actor.id)
    if schedule is None:
        await message.answer(why or ONCALL_USAGE)
        return
    if actor.id not in schedule.members:
        await message.answer(f"Only members of {escape(schedule.name)} can take its shift.")
        return
    override = await oncall.take(schedule.name, actor.id, duration)
    log.info("on call: user %s took %s until %s", actor.id, schedule.name, override.ends_at)
    await handoffs.tick(startup=False)  # the alert chats' line and the private summary, queued before the answer
    await message.answer(
        f"📟 {escape(actor.name[:NAME_UNITS])} is on call for <b>{escape(schedule.name)}</b> "
        f"until {at(override.ends_at, schedule.tz)}."
    )


async def swap(
    message: Message,
    bot: Bot,
    args: list[str],
    oncall: OnCall,
    current: CurrentConfig,
    access: Access,
    actor: Actor,
) -> None:
    if not args or not args[0].startswith("@") or len(args[0]) < 2 or actor.id is None:
        await message.answer(ONCALL_USAGE)
        return
    options = _options(args[1:])
    if options is None:
        await message.answer(f"The duration must be 1m to 30d. {ONCALL_USAGE}")
        return
    words, duration = options
    handle = args[0][:NAME_UNITS]
    target = await oncall.by_username(handle)
    if target is None and current.config.oncall:
        await message.answer(
            f"I don't know {escape(handle)}: only a member who started me in private can take a swap "
            "(each member sends me /start in a private chat once)."
        )
        return
    schedule, why = _schedule(current, words, *([target] if target is not None else []))
    if schedule is None:
        await message.answer(why or ONCALL_USAGE)
        return
    if actor.id not in schedule.members and not access.admin:
        await message.answer(f"Only members of {escape(schedule.name)} (or admins) can offer its shift.")
        return
    if target is None or target not in schedule.members:
        await message.answer(
            f"{escape(handle)} is not a member of {escape(schedule.name)}: only its members can take its shift."
        )
        return
    if not await oncall.pageable([target]):
        await message.answer(f"{escape(handle)} blocked me: ask them to /start me in a private chat again.")
        return
    override = await oncall.offer_swap(schedule.name, target, duration, actor.id)
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="✅ Accept", callback_data=OnCallCb(answer=SwapAnswer.accept, override_id=override.id).pack()
                ),
                InlineKeyboardButton(
                    text="✖ Decline", callback_data=OnCallCb(answer=SwapAnswer.decline, override_id=override.id).pack()
                ),
            ]
        ]
    )
    try:
        await bot.send_message(
            target, swap_offer_text(actor.name, schedule.name, override.ends_at, schedule.tz), reply_markup=buttons
        )
    except (TelegramForbiddenError, TelegramBadRequest) as exc:
        log.info("on call: the swap offer to user %s failed: %s", target, exc.message)
        await oncall.blocked(target)
        await oncall.answer(override.id, target, accept=False)
        await message.answer(f"{escape(handle)} cannot be reached in private: ask them to /start me.")
        return
    await message.answer(
        f"🔁 Offered {escape(schedule.name)} to {escape(handle)} until {at(override.ends_at, schedule.tz)}: "
        "waiting for their answer."
    )


async def swap_answer(
    query: CallbackQuery, callback_data: OnCallCb, bot: Bot, oncall: OnCall, handoffs: Handoffs, current: CurrentConfig
) -> None:
    accept = callback_data.answer is SwapAnswer.accept
    answered = await oncall.answer(callback_data.override_id, query.from_user.id, accept)
    if answered is None:
        await query.answer("This offer is not yours, or no longer open.", show_alert=True)
        return
    schedule = current.config.schedule(answered.schedule)
    tz = schedule.tz if schedule is not None else "UTC"
    names = await oncall.names([answered.user_id])
    who = person(answered.user_id, names)
    if accept:
        outcome = f"✅ You are on call for <b>{escape(answered.schedule)}</b> until {at(answered.ends_at, tz)}."
        told = f"✅ {who} accepted: on call for <b>{escape(answered.schedule)}</b> until {at(answered.ends_at, tz)}."
    else:
        outcome = f"✖ Declined: the shift of <b>{escape(answered.schedule)}</b> stays as it was."
        told = f"✖ {who} declined the shift of <b>{escape(answered.schedule)}</b>."
    await query.answer("Accepted" if accept else "Declined")
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(outcome, reply_markup=None)
    if accept:
        await handoffs.tick(startup=False)  # the alert chats' line and the private summary, now
    if answered.created_by is not None and answered.created_by != answered.user_id:
        try:
            await bot.send_message(answered.created_by, told)
        except (TelegramForbiddenError, TelegramBadRequest):
            await oncall.blocked(answered.created_by)
        except TelegramAPIError as exc:  # telling the offerer is a courtesy: the swap stands
            log.warning("on call: could not tell user %s the swap's answer: %s", answered.created_by, exc)


def build_router() -> Router:
    router = Router(name="oncall")
    router.message.register(oncall_command, Command("oncall"))
    router.callback_query.register(swap_answer, OnCallCb.filter())
    return router
