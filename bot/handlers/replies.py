"""Answering with long texts: split under 4096 characters, buttons on the last part."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, Message

from bot.render.split import split_html
from bot.shorten import send_split


async def answer_parts(message: Message, parts: list[str], reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Each part as a message (the buttons on the last); one Telegram finds too long goes in smaller parts."""

    async def send(text: str, markup: InlineKeyboardMarkup | None) -> Message:
        return await message.answer(text, reply_markup=markup)

    for index, part in enumerate(parts):
        await send_split(send, part, reply_markup if index == len(parts) - 1 else None)


async def answer_long(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    await answer_parts(message, split_html(text), reply_markup)


def args_of(message: Message) -> list[str]:
    text = message.text or ""
    return text.split()[1:]
