"""Answering with long texts: split under 4096 characters, buttons on the last part."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, Message

from bot.render.split import split_html


async def answer_long(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    parts = split_html(text)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await message.answer(part, reply_markup=reply_markup if last else None)


def args_of(message: Message) -> list[str]:
    text = message.text or ""
    return text.split()[1:]
