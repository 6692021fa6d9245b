"""The emulator's own HTTP API under `/_emulator/` (served with `control=True`, as `opsbot emulator` does).

What a person in a chat would do — write a message, press a button — and what they would see, for a
bot that runs in another process (scripts, the README's walk-through, curl):

    GET  /_emulator/chats                          [{id, type, title, messages}]
    GET  /_emulator/chats/{chat_id}/messages       [{message_id, from_bot, text, buttons, reply_to, …}]
    POST /_emulator/chats/{chat_id}/messages       {"text": "/start", "user_id": 42, "username": "alice"}
    POST /_emulator/chats/{chat_id}/press          {"message_id": 3, "button": "Ack"} → {callback_query_id, answer}

Writing in a chat the emulator does not know yet creates it (a group for a negative id), as adding
the bot to a new group does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.emulator.server import BotApiEmulator, ChatMessage

DEFAULT_USER = {"user_id": 42, "username": "alice"}
PRESS_WAIT = 10.0  # seconds a press waits for the bot's answerCallbackQuery before returning without it


def message_view(msg: ChatMessage) -> dict[str, Any]:
    return {
        "message_id": msg.message_id,
        "from_bot": msg.from_bot,
        "user_id": msg.user_id,
        "text": msg.text,
        "buttons": [{"text": b["text"], "callback_data": b.get("callback_data")} for b in msg.buttons],
        "reply_to": msg.reply_to,
        "kind": msg.kind,
        "filename": msg.filename,
        "edits": msg.edits,
        "date": msg.date,
    }


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _chat_id(request: web.Request) -> int:
    try:
        return int(request.match_info["chat_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="chat id must be an integer") from None


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _user(body: dict[str, Any]) -> tuple[int, str | None]:
    try:
        user_id = int(body.get("user_id", DEFAULT_USER["user_id"]))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text="user_id must be an integer") from None
    username = body.get("username", DEFAULT_USER["username"] if "user_id" not in body else None)
    return user_id, (str(username) if username else None)


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    async def chats(_request: web.Request) -> web.Response:
        counts: dict[int, int] = {}
        for chat_id, _ in emulator.messages:
            counts[chat_id] = counts.get(chat_id, 0) + 1
        return web.json_response(
            [
                {"id": c.id, "type": c.type, "title": c.title, "messages": counts.get(c.id, 0)}
                for c in emulator.chats.values()
            ]
        )

    async def messages(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        shown = sorted((m for (c, _), m in emulator.messages.items() if c == chat_id), key=lambda m: m.message_id)
        return web.json_response([message_view(m) for m in shown])

    async def send(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, 'expected {"text": "…"}')
        user_id, username = _user(body)
        if chat_id not in emulator.chats:
            emulator.add_chat(chat_id, "private" if chat_id > 0 else "supergroup")
        msg = emulator.send_text(chat_id, text, user_id=user_id, username=username)
        return web.json_response(message_view(msg), status=201)

    async def press(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        body = await _body(request)
        try:
            msg = emulator.messages[(chat_id, int(body.get("message_id", 0)))]
        except (KeyError, TypeError, ValueError):
            return _error(404, "no such message in this chat")
        label = str(body.get("button") or "")
        data = body.get("data")
        if data is None:
            try:
                data = msg.button(label)["callback_data"]
            except KeyError:
                return _error(404, f"no button with {label!r}: {[b['text'] for b in msg.buttons]}")
        user_id, username = _user(body)
        query_id = emulator.press(chat_id, msg.message_id, str(data), user_id=user_id, username=username)
        try:
            await emulator.wait_for(lambda: query_id in emulator.callback_answers, PRESS_WAIT)
        except TimeoutError:
            return web.json_response({"callback_query_id": query_id, "answer": None})
        return web.json_response({"callback_query_id": query_id, "answer": emulator.callback_answers[query_id]})

    app.router.add_get("/_emulator/chats", chats)
    app.router.add_get("/_emulator/chats/{chat_id}/messages", messages)
    app.router.add_post("/_emulator/chats/{chat_id}/messages", send)
    app.router.add_post("/_emulator/chats/{chat_id}/press", press)
