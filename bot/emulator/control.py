"""The emulator's own HTTP API under `/_emulator/` (served with `control=True`, as `opsbot emulator` does).

What a person in a chat would do — write a message, press a button — and what they would see, for a
bot that runs in another process (scripts, the README's walk-through, curl):

    GET  /_emulator/chats                          [{id, type, title, messages}]
    GET  /_emulator/chats/{chat_id}/messages       [{message_id, from_bot, text, buttons, reply_to, …}]
    POST /_emulator/chats/{chat_id}/messages       {"text": "/start", "user_id": 42, "username": "alice"}
    POST /_emulator/chats/{chat_id}/press          {"message_id": 3, "button": "Ack"} → {callback_query_id, answer}
    POST /_emulator/chats/{chat_id}/forum          {"is_forum": true, "topic_right": true} → the chat
    GET  /_emulator/chats/{chat_id}/topics         [{message_thread_id, name, icon_color, closed}]
    DELETE /_emulator/chats/{chat_id}/topics/{id}  a person deletes a topic and its messages

A message may be written in a topic (`"message_thread_id": 5`) or as a reply (`"reply_to": 3`).

Writing in a chat the emulator does not know yet creates it (a group for a negative id), as adding
the bot to a new group does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.emulator.forums import Topic
    from bot.emulator.server import BotApiEmulator, Chat, ChatMessage

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
        "thread_id": msg.thread_id,
        "pinned": msg.pinned,
    }


def chat_view(chat: Chat, messages: int) -> dict[str, Any]:
    return {
        "id": chat.id,
        "type": chat.type,
        "title": chat.title,
        "messages": messages,
        "is_forum": chat.is_forum,
        "topic_right": chat.topic_right,
        "topics": len(chat.topics),
    }


def topic_view(topic: Topic) -> dict[str, Any]:
    return {
        "message_thread_id": topic.thread_id,
        "name": topic.name,
        "icon_color": topic.icon_color,
        "closed": topic.closed,
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


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=f"{key} must be an integer") from None


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    async def chats(_request: web.Request) -> web.Response:
        counts: dict[int, int] = {}
        for chat_id, _ in emulator.messages:
            counts[chat_id] = counts.get(chat_id, 0) + 1
        return web.json_response([chat_view(c, counts.get(c.id, 0)) for c in emulator.chats.values()])

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
        thread_id, reply_to = _optional_int(body, "message_thread_id"), _optional_int(body, "reply_to")
        if chat_id not in emulator.chats:
            emulator.add_chat(chat_id, "private" if chat_id > 0 else "supergroup")
        try:
            msg = emulator.send_text(
                chat_id, text, user_id=user_id, username=username, message_thread_id=thread_id, reply_to=reply_to
            )
        except KeyError:
            return _error(404, "no such topic or message to reply to in this chat")
        return web.json_response(message_view(msg), status=201)

    async def forum(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        body = await _body(request)
        try:
            chat = emulator.make_forum(
                chat_id, topic_right=bool(body.get("topic_right", True)), is_forum=bool(body.get("is_forum", True))
            )
        except ValueError as exc:
            return _error(400, str(exc))
        return web.json_response(chat_view(chat, sum(1 for c, _ in emulator.messages if c == chat_id)))

    async def topics(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        if chat_id not in emulator.chats:
            return _error(404, "no such chat")
        return web.json_response([topic_view(t) for t in emulator.topics(chat_id)])

    async def delete_topic(request: web.Request) -> web.Response:
        chat_id = _chat_id(request)
        try:
            emulator.delete_topic(chat_id, int(request.match_info["thread_id"]))
        except (KeyError, ValueError):
            return _error(404, "no such topic in this chat")
        return web.Response(status=204)

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
    app.router.add_post("/_emulator/chats/{chat_id}/forum", forum)
    app.router.add_get("/_emulator/chats/{chat_id}/topics", topics)
    app.router.add_delete("/_emulator/chats/{chat_id}/topics/{thread_id}", delete_topic)
