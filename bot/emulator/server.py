"""The Bot API emulator: aiohttp on 127.0.0.1, speaking Telegram's HTTP API to a real aiogram client.

It keeps chats and messages, long-polls updates, records every call, validates what Telegram
validates (HTML, 4096 characters, 64-byte callback_data, unknown chats), and answers 429, 5xx, 403
or hangs on demand. Tests inject user messages and button presses with `send_text` and `press`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator.errors import ApiError as _ApiError
from bot.emulator.forums import ForumMethods, Topic, chat_json
from bot.emulator.html_check import EntityError, parse_html, utf16_len
from bot.emulator.limits import FloodLimits
from bot.limits import LIMITED_METHODS  # the methods that post into a chat: one list for both sides

_TOKEN = re.compile(r"^(\d+):[A-Za-z0-9_-]{5,}$")
_LIMITED_TEXT = 4096
_CAPTION = 1024
# Creating a topic posts its creation message into the chat: Telegram's flood limits count it as a send.
_FLOOD_COUNTED = LIMITED_METHODS | {"createForumTopic"}


@dataclass
class Fault:
    """Answer matching calls with an error (or hang) `times` times. `chat_id` None matches any chat."""

    method: str
    kind: str  # retry_after | server_error | forbidden | chat_not_found | unauthorized | hang
    times: int = 1
    retry_after: int = 1
    hang_seconds: float = 0.0
    chat_id: int | None = None
    hits: int = 0


@dataclass
class ChatMessage:
    chat_id: int
    message_id: int
    text: str  # as Telegram shows it (HTML parsed)
    html: str | None
    from_bot: bool
    user_id: int | None
    reply_markup: dict[str, Any] | None = None
    reply_to: int | None = None
    kind: str = "text"  # text | photo | document
    file_size: int = 0
    filename: str | None = None
    content: bytes | None = field(default=None, repr=False)  # the file's bytes, with keep_files
    edits: int = 0
    thread_id: int | None = None  # the forum topic it is in (None: no topic, or the General topic)
    pinned: bool = False
    date: int = field(default_factory=lambda: int(time.time()))
    silent: bool = False  # sent with disable_notification: no sound on the users' devices

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [b for row in rows for b in row]

    def button(self, label_part: str) -> dict[str, Any]:
        for b in self.buttons:
            if label_part in b["text"]:
                return b
        raise KeyError(f"no button with {label_part!r} in {[b['text'] for b in self.buttons]}")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float
    description: str = ""
    done: float = field(default_factory=time.time)  # wall clock when the answer was ready


@dataclass
class Chat:
    id: int
    type: str
    title: str | None = None
    blocked: bool = False
    is_forum: bool = False
    topic_right: bool = False  # the bot's can_manage_topics
    topics: dict[int, Topic] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)  # users in it (whoever wrote in it joins; `add_member`)


class BotApiEmulator(ForumMethods):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        telegram_limits: bool = False,
        keep_files: bool = False,
        control: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.keep_files = keep_files  # keep the bytes of sent photos and documents (the demo saves them)
        self.control = control  # serve /_emulator/…: chats, messages and presses over HTTP (`opsbot emulator`)
        # With telegram_limits, calls past Telegram's flood limits get a 429 with retry_after.
        self.limits: FloodLimits | None = FloodLimits() if telegram_limits else None
        # Telegram's limit on a message's text, in UTF-16 units after its HTML is parsed; a test may lower
        # it to see what the bot does with "message is too long" (e.g. if Telegram counted differently).
        self.text_limit = _LIMITED_TEXT
        self.calls: list[Call] = []
        self.chats: dict[int, Chat] = {}
        self.messages: dict[tuple[int, int], ChatMessage] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_posts: list[int] = []  # HTTP status of each update POSTed to the webhook
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wake = asyncio.Event()
        self.faults: list[Fault] = []
        self.listeners: list[Callable[[Call, ChatMessage | None], None]] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._polls_in_flight = 0
        self.overlapping_polls = 0
        self._runner: web.AppRunner | None = None
        self.bot_user = {"id": 0, "is_bot": True, "first_name": "opsbot", "username": "opsbot"}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        if self.control:
            from bot.emulator.control import add_control_routes

            add_control_routes(app, self)
        # A client that hangs up ends its request, as with Telegram: a killed bot's long poll is over.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- test API: the world outside the bot ----------------------------------------------
    def add_chat(self, chat_id: int, type: str | None = None, title: str | None = None) -> Chat:
        kind = type or ("private" if chat_id > 0 else "supergroup")
        chat = Chat(chat_id, kind, title or (None if kind == "private" else f"chat {chat_id}"))
        self.chats[chat_id] = chat
        return chat

    def add_member(self, chat_id: int, user_id: int) -> None:
        (self.chats.get(chat_id) or self.add_chat(chat_id)).members.add(user_id)

    def remove_member(self, chat_id: int, user_id: int) -> None:
        self.chats[chat_id].members.discard(user_id)

    def block(self, chat_id: int) -> None:
        self.chats[chat_id].blocked = True

    def fail(self, method: str, kind: str, times: int = 1, **kw: Any) -> Fault:
        fault = Fault(method, kind, times, **kw)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def send_text(
        self,
        chat_id: int,
        text: str,
        user_id: int = 1001,
        username: str | None = "alice",
        *,
        message_thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> ChatMessage:
        """A person writes in a chat: in a forum topic with `message_thread_id`, as a reply with `reply_to`
        (a reply lands in the replied message's topic, as Telegram's apps put it)."""
        chat = self.chats.get(chat_id) or self.add_chat(chat_id)
        chat.members.add(user_id)
        replied = self.messages[(chat_id, reply_to)] if reply_to is not None else None
        thread_id = message_thread_id or (replied.thread_id if replied is not None else None)
        if thread_id is not None and thread_id not in chat.topics:
            raise KeyError(f"no topic {thread_id} in chat {chat_id}: {sorted(chat.topics)}")
        msg = ChatMessage(chat_id, self._next_message_id(chat_id), text, None, False, user_id, reply_to=reply_to)
        msg.thread_id = thread_id
        self.messages[(chat_id, msg.message_id)] = msg
        payload = self._message_json(msg, chat, self._user(user_id, username))
        if replied is not None:
            author = self.bot_user if replied.from_bot else self._user(replied.user_id or 0, None)
            payload["reply_to_message"] = self._message_json(replied, chat, author)
        if text.startswith("/"):
            command = text.split()[0]
            payload["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._push({"message": payload})
        return msg

    def press(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        user_id: int = 1001,
        username: str | None = "alice",
        names: tuple[str, str] | None = None,
    ) -> str:
        """`names`: the user's first and last name (Telegram allows 64 characters each)."""
        msg = self.messages[(chat_id, message_id)]
        query_id = str(next(self._callback_ids))
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(user_id, username, names),
                    "message": self._message_json(msg, self.chats[chat_id], self.bot_user),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                }
            }
        )
        return query_id

    def press_button(
        self,
        msg: ChatMessage,
        label_part: str,
        user_id: int = 1001,
        username: str | None = "alice",
        names: tuple[str, str] | None = None,
    ) -> str:
        data = msg.button(label_part)["callback_data"]
        return self.press(msg.chat_id, msg.message_id, data, user_id, username, names)

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        return sorted(
            (m for (c, _), m in self.messages.items() if c == chat_id and m.from_bot),
            key=lambda m: m.message_id,
        )

    def calls_to(self, method: str, ok: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or (c.status == 200) == ok)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    # -- HTTP ----------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.match_info["token"]
        params = await self._params(request)
        started = time.monotonic()
        try:
            if not _TOKEN.match(token):
                raise _ApiError(401, "Unauthorized")
            self.bot_user["id"] = int(token.split(":")[0])
            await self._apply_faults(method, params)
            if self.limits is not None and method in _FLOOD_COUNTED:
                chat_id = _int(params.get("chat_id"))
                retry_after = self.limits.check(chat_id or 0, time.monotonic())
                if retry_after is not None:
                    raise _ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except asyncio.CancelledError:  # the client hung up (a timeout, or it died) before the answer
            self._record(Call(method, params, 499, started, "client closed the request"), None)
            raise
        except _ApiError as exc:
            call = Call(method, params, exc.code, started, exc.description)
            self._record(call, None)
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code)
        message = result.pop("__message__", None) if isinstance(result, dict) else None
        self._record(Call(method, params, 200, started), message)
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and request.can_read_body:
            params.update(await request.json())
        elif request.method == "POST":
            if request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                while (part := await reader.next()) is not None:
                    if part.filename:  # type: ignore[union-attr]
                        data = await part.read()  # type: ignore[union-attr]
                        params[part.name] = {"filename": part.filename, "size": len(data), "head": data[:8]}  # type: ignore[union-attr]
                        if self.keep_files:
                            params[part.name]["data"] = data  # type: ignore[union-attr]
                    else:
                        params[part.name] = await part.text()  # type: ignore[union-attr]
            else:
                params.update(dict(await request.post()))
        for key in ("reply_markup", "allowed_updates", "commands", "reply_parameters"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _record(self, call: Call, message: ChatMessage | None) -> None:
        self.calls.append(call)
        for listener in list(self.listeners):
            listener(call, message)

    async def _apply_faults(self, method: str, params: dict[str, Any]) -> None:
        chat_id = _int(params.get("chat_id"))
        for fault in self.faults:
            if fault.times <= 0 or fault.method != method:
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.times -= 1
            fault.hits += 1
            if fault.kind == "retry_after":
                raise _ApiError(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
            if fault.kind == "server_error":
                raise _ApiError(502, "Bad Gateway")
            if fault.kind == "forbidden":
                raise _ApiError(403, "Forbidden: bot was kicked from the group chat")
            if fault.kind == "chat_not_found":
                raise _ApiError(400, "Bad Request: chat not found")
            if fault.kind == "unauthorized":  # a wrong or revoked token
                raise _ApiError(401, "Unauthorized")
            if fault.kind == "hang":
                await asyncio.sleep(fault.hang_seconds)
                raise _ApiError(504, "Gateway Timeout")
            return

    # -- the Bot API methods the bot uses -------------------------------------------------
    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = self.webhook_secret = None
        if str(params.get("drop_pending_updates")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = params.get("url") or None
        self.webhook_secret = params.get("secret_token") or None
        if self.webhook_url and self._webhook_task is None:
            self._webhook_task = asyncio.create_task(self._deliver_to_webhook())
        self._webhook_wake.set()
        return True

    async def _deliver_to_webhook(self) -> None:
        """As Telegram does with a webhook set: POST each update in turn until one gets a 2xx, then the next."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                if not self.webhook_url or not self._updates:
                    self._webhook_wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._webhook_wake.wait(), 0.5)
                    continue
                update = self._updates[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
                try:
                    async with session.post(self.webhook_url, json=update, headers=headers) as response:
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.webhook_posts.append(status)
                if 200 <= status < 300:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                else:
                    await asyncio.sleep(0.2)

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(params.get("commands") or [])
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        if self._polls_in_flight:
            self.overlapping_polls += 1
        self._polls_in_flight += 1
        try:
            offset = _int(params.get("offset")) or 0
            timeout = float(params.get("timeout") or 0)
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            deadline = time.monotonic() + timeout
            while not self._updates and time.monotonic() < deadline:
                self._new_update.clear()
                try:
                    await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
            limit = _int(params.get("limit")) or 100
            return self._updates[:limit]
        finally:
            self._polls_in_flight -= 1

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = str(params.get("text") or "")
        shown, html_text = self._parse_text(text, params.get("parse_mode"), self.text_limit, "message")
        markup = self._check_markup(params.get("reply_markup"), chat)
        reply_to = self._reply_to(chat.id, params)
        thread_id = self._thread(chat, params, reply_to)
        msg = ChatMessage(chat.id, self._next_message_id(chat.id), shown, html_text, True, None, markup, reply_to)
        msg.thread_id = thread_id
        msg.silent = _flag(params.get("disable_notification"))
        self.messages[(chat.id, msg.message_id)] = msg
        return {**self._message_json(msg, chat, self.bot_user), "__message__": msg}

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "photo")

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_file(params, "document")

    async def _send_file(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat = self._chat(params)
        file = params.get(kind)
        if isinstance(file, str) and file.startswith("attach://"):  # multipart part named elsewhere
            file = params.get(file.removeprefix("attach://"))
        if not isinstance(file, dict):
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption, caption_html = self._parse_text(
            str(params.get("caption") or ""), params.get("parse_mode"), _CAPTION, "caption", allow_empty=True
        )
        markup = self._check_markup(params.get("reply_markup"), chat)
        reply_to = self._reply_to(chat.id, params)
        thread_id = self._thread(chat, params, reply_to)
        msg = ChatMessage(
            chat.id,
            self._next_message_id(chat.id),
            caption,
            caption_html,
            True,
            None,
            markup,
            reply_to,
            kind=kind,
            file_size=file["size"],
            filename=file["filename"],
            content=file.get("data"),
            thread_id=thread_id,
        )
        self.messages[(chat.id, msg.message_id)] = msg
        body = self._message_json(msg, chat, self.bot_user)
        if kind == "photo":
            body["photo"] = [
                {
                    "file_id": f"p{msg.message_id}",
                    "file_unique_id": f"u{msg.message_id}",
                    "width": 800,
                    "height": 600,
                    "file_size": file["size"],
                }
            ]
        else:
            body["document"] = {
                "file_id": f"d{msg.message_id}",
                "file_unique_id": f"u{msg.message_id}",
                "file_name": file["filename"],
                "file_size": file["size"],
            }
        return {**body, "__message__": msg}

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        msg = self._own_message(chat.id, params)
        shown, html_text = self._parse_text(
            str(params.get("text") or ""), params.get("parse_mode"), self.text_limit, "message"
        )
        markup = self._check_markup(params.get("reply_markup"), chat)
        if shown == msg.text and markup == msg.reply_markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of the message",
            )
        msg.text, msg.html, msg.reply_markup = shown, html_text, markup
        msg.edits += 1
        return {**self._message_json(msg, chat, self.bot_user), "__message__": msg}

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        msg = self._own_message(chat.id, params)
        markup = self._check_markup(params.get("reply_markup"), chat)
        if markup == msg.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        msg.reply_markup = markup
        msg.edits += 1
        return {**self._message_json(msg, chat, self.bot_user), "__message__": msg}

    async def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = _int(params.get("user_id"))
        if user_id is None:
            raise _ApiError(400, "Bad Request: PARTICIPANT_ID_INVALID")
        if user_id == self.bot_user["id"]:  # the bot itself: an administrator, with the forum's rights
            return await super()._m_getChatMember(params)
        member = user_id in chat.members or (chat.type == "private" and chat.id == user_id)
        return {"status": "member" if member else "left", "user": self._user(user_id, None)}

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id in self.callback_answers:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = {
            "text": text,
            "show_alert": str(params.get("show_alert")).lower() == "true",
        }
        return True

    async def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        msg = self._own_message(chat.id, params)
        del self.messages[(chat.id, msg.message_id)]
        return True

    # -- validation helpers --------------------------------------------------------------
    def _chat(self, params: dict[str, Any]) -> Chat:
        chat_id = _int(params.get("chat_id"))
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if chat.blocked:
            if chat.type == "private":
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            raise _ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        return chat

    def _own_message(self, chat_id: int, params: dict[str, Any]) -> ChatMessage:
        msg = self.messages.get((chat_id, _int(params.get("message_id")) or 0))
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not msg.from_bot:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return msg

    def _reply_to(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        message_id = (
            _int(reply.get("message_id")) if isinstance(reply, dict) else _int(params.get("reply_to_message_id"))
        )
        if message_id is None:
            return None
        if (chat_id, message_id) not in self.messages:
            allow = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
            if not allow:
                raise _ApiError(400, "Bad Request: message to be replied not found")
            return None
        return message_id

    def _parse_text(
        self, text: str, parse_mode: Any, limit: int, what: str, allow_empty: bool = False
    ) -> tuple[str, str | None]:
        if parse_mode == "HTML":
            try:
                shown = parse_html(text)
            except EntityError as exc:
                raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
            html_text: str | None = text
        else:
            shown, html_text = text, None
        if not shown.strip() and not allow_empty:
            raise _ApiError(400, f"Bad Request: {what} text is empty")
        if utf16_len(shown) > limit:
            raise _ApiError(400, f"Bad Request: {what} is too long")
        return shown, html_text

    def _check_markup(self, markup: Any, chat: Chat | None = None) -> dict[str, Any] | None:
        if not markup:
            return None
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode()) <= 64):
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise _ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                web_app = button.get("web_app")
                if web_app is not None:  # Telegram: private chats only, and an https page
                    if chat is not None and chat.type != "private":
                        raise _ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
                    if not str(web_app.get("url", "")).startswith("https://"):
                        raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        return markup if any(rows) else None

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _push(self, update: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **update})
        self._new_update.set()
        self._webhook_wake.set()

    @staticmethod
    def _user(user_id: int, username: str | None, names: tuple[str, str] | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": (username or f"user{user_id}").title(),
        }
        if names is not None:
            user["first_name"], user["last_name"] = names
        if username:
            user["username"] = username
        return user

    def _message_json(self, msg: ChatMessage, chat: Chat, sender: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": msg.message_id,
            "date": msg.date,
            "chat": chat_json(chat),
            "from": sender,
            **self._topic_json(msg, chat),
        }
        if msg.kind == "text":
            body["text"] = msg.text
        elif msg.text:
            body["caption"] = msg.text
        if msg.reply_markup:
            body["reply_markup"] = msg.reply_markup
        return body


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _flag(value: Any) -> bool:
    """A Bot API boolean as a client sends it: JSON `true`, or `"true"` in a form."""
    return value is True or str(value).lower() == "true"
